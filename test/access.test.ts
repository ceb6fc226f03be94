// Integration: tenants, users, tokens and the one permission check, on a real daemon. Tokens are
// presented over the unix socket (which also takes them, so that root can act as anyone); the
// network listener's own tests are in remote.test.ts. Covers the tenant-isolation matrix (every
// route about a container or a tenant × roles × another tenant's object), quotas under 50 parallel
// creates, a tenant's memory ceiling that holds for two containers together, suspension, and the
// audit log.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useDaemon, sleep, type TestDaemon } from './harness.js';

interface Answer { status: number; body: unknown; text: string }

/** One API request over the daemon's socket, as the holder of `token` (none: root). */
function api(d: TestDaemon, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request({
      socketPath: d.socket, method, path,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(data !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* text */ }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

const messageOf = (a: Answer): string => (a.body as { message?: string }).message ?? a.text;

describe('tenants, users and tokens', () => {
  const d = useDaemon({ template: 'bb' });
  const tokens: Record<string, string> = {};

  before(async () => {
    await d.ok('tenant', 'create', 'ta', '--containers', '5', '--ports', '2');
    await d.ok('tenant', 'create', 'tb');
    for (const [user, role, tenant] of [['alice', 'owner', 'ta'], ['vic', 'viewer', 'ta'], ['bill', 'billing', 'ta'], ['bob', 'owner', 'tb'], ['ops', 'operator', 'tb']]) {
      await d.ok('user', 'create', user, '--role', role, '--tenant', tenant);
      tokens[user] = (await d.ok('token', 'create', '--user', user)).trim();
    }
    await d.ok('user', 'create', 'hostadm', '--role', 'admin');
    tokens.hostadm = (await d.ok('token', 'create', '--user', 'hostadm')).trim();
    const a = await api(d, 'POST', '/v1/containers', { token: tokens.alice, body: { name: 'ca', template: 'bb', noNet: true } });
    assert.equal(a.status, 201, a.text);
    const b = await api(d, 'POST', '/v1/containers', { token: tokens.bob, body: { name: 'cb', template: 'bb', noNet: true } });
    assert.equal(b.status, 201, b.text);
  });

  test('a container belongs to its maker\'s tenant; each tenant lists only its own, the host sees all', async () => {
    assert.equal((await api(d, 'GET', '/v1/containers/ca', { token: tokens.alice })).status, 200);
    const names = async (token?: string): Promise<string[]> => ((await api(d, 'GET', '/v1/containers?brief=true', { token })).body as Array<{ name: string }>).map((c) => c.name).sort();
    assert.deepEqual(await names(tokens.alice), ['ca']);
    assert.deepEqual(await names(tokens.vic), ['ca']);
    assert.deepEqual(await names(tokens.bob), ['cb']);
    assert.deepEqual(await names(tokens.hostadm), ['ca', 'cb']);
    assert.deepEqual(await names(), ['ca', 'cb'], 'root on the unix socket sees every container');
    assert.match(await d.ok('list'), /ca .*ta\n/);
  });

  test('every route about a container or a tenant refuses another tenant\'s with 403 and the reason, and changes nothing', async () => {
    const doc = (await api(d, 'GET', '/v1/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const about = path.startsWith('/v1/containers/{name}') ? 'container' : path.includes('{tenant}') ? 'tenant' : null;
      if (!about) continue;
      for (const method of Object.keys(ops)) {
        const url = path.replace('{name}', 'ca').replace('{tenant}', 'ta').replace('{template}', 'bb').replace('{spec}', '8080:80').replace('{session}', 'x');
        for (const who of ['bob', 'ops']) {
          const r = await api(d, method.toUpperCase(), url, { token: tokens[who], body: method === 'get' || method === 'delete' ? undefined : {} });
          assert.equal(r.status, 403, `${who}: ${method} ${url} answered ${r.status} ${r.text}`);
          assert.match(messageOf(r), about === 'container' ? /container ca is not one of tenant tb's|lacks the scope/ : /may see only tenant tb|lacks the scope/, `${method} ${url}`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 20, `the matrix covered ${checked} routes`);
    const ca = (await api(d, 'GET', '/v1/containers/ca')).body as { state: string; tenant: string };
    assert.deepEqual([ca.state, ca.tenant], ['created', 'ta'], 'nothing of ca changed');
    // The other direction, and a query naming another tenant's container.
    assert.equal((await api(d, 'POST', '/v1/containers/cb/start', { token: tokens.alice })).status, 403);
    assert.equal((await api(d, 'GET', '/v1/events?container=cb', { token: tokens.alice })).status, 403);
    assert.equal((await api(d, 'GET', '/v1/processes?container=cb', { token: tokens.alice })).status, 403);
  });

  test('roles grant scopes: a viewer reads but does not change, billing sees no containers; a denial names the scope', async () => {
    assert.equal((await api(d, 'GET', '/v1/containers/ca', { token: tokens.vic })).status, 200);
    const start = await api(d, 'POST', '/v1/containers/ca/start', { token: tokens.vic });
    assert.equal(start.status, 403);
    assert.match(messageOf(start), /vic \(viewer\) lacks the scope containers:write/);
    const list = await api(d, 'GET', '/v1/containers', { token: tokens.bill });
    assert.equal(list.status, 403, 'a denial is 403, never an empty list');
    assert.match(messageOf(list), /lacks the scope containers:read/);
    assert.equal((await api(d, 'GET', '/v1/tenants/ta', { token: tokens.bill })).status, 200, 'billing sees its tenant');
    assert.equal((await api(d, 'POST', '/v1/networks', { token: tokens.alice, body: { name: 'n1', subnet: '10.250.0.0/24' } })).status, 403, 'networks are the host\'s');
    assert.equal((await api(d, 'POST', '/v1/tenants', { token: tokens.alice, body: { name: 'tx' } })).status, 403, 'plans are the host\'s');
    const me = (await api(d, 'GET', '/v1/me', { token: tokens.vic })).body as { user: string; role: string; tenant: string; scopes: string[] };
    assert.deepEqual([me.user, me.role, me.tenant], ['vic', 'viewer', 'ta']);
    assert.ok(me.scopes.includes('containers:read') && !me.scopes.includes('containers:write'));
  });

  test('a token carries fewer scopes, a container list, an address list and an expiry', async () => {
    const made = (await api(d, 'POST', '/v1/tokens', { token: tokens.alice, body: { scopes: ['containers:read'], containers: ['ca'] } })).body as { token: string; record: { id: string } };
    assert.equal((await api(d, 'GET', '/v1/containers/ca', { token: made.token })).status, 200);
    const start = await api(d, 'POST', '/v1/containers/ca/start', { token: made.token });
    assert.equal(start.status, 403);
    assert.match(messageOf(start), /lacks the scope containers:write/);
    const tooMuch = await api(d, 'POST', '/v1/tokens', { token: tokens.vic, body: { scopes: ['containers:write'] } });
    assert.equal(tooMuch.status, 403, 'a viewer cannot mint itself a writing token');
    const fromElsewhere = (await api(d, 'POST', '/v1/tokens', { token: tokens.alice, body: { cidrs: ['203.0.113.0/24'] } })).body as { token: string };
    const refused = await api(d, 'GET', '/v1/me', { token: fromElsewhere.token });
    assert.equal(refused.status, 401);
    assert.match(messageOf(refused), /may not be used from unix: it is limited to 203\.0\.113\.0\/24/);
    const wrong = await api(d, 'GET', '/v1/me', { token: `${tokens.alice.slice(0, -4)}AAAA` });
    assert.equal(wrong.status, 401);
    assert.match(messageOf(wrong), /not valid/);
    assert.equal((await api(d, 'DELETE', `/v1/tokens/${made.record.id}`, { token: tokens.bob })).status, 403, 'another tenant\'s owner cannot revoke it');
    assert.equal((await api(d, 'DELETE', `/v1/tokens/${made.record.id}`, { token: tokens.alice })).status, 200);
    assert.equal((await api(d, 'GET', '/v1/containers/ca', { token: made.token })).status, 401, 'a revoked token is refused at once');
    const brief = (await api(d, 'POST', '/v1/tokens', { token: tokens.alice, body: { expiresIn: 1 } })).body as { token: string };
    assert.equal((await api(d, 'GET', '/v1/me', { token: brief.token })).status, 200);
    await sleep(1100);
    const expired = await api(d, 'GET', '/v1/me', { token: brief.token });
    assert.equal(expired.status, 401);
    assert.match(messageOf(expired), /expired at/);
    // Secrets are stored hashed: the database file holds no token secret.
    const db = [d.paths.db, `${d.paths.db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f).toString('latin1')).join('');
    for (const t of Object.values(tokens)) assert.ok(!db.includes(t.slice(-43)), 'a token secret is not in the database');
  });

  test('a password log-in answers a token; a wrong password and an unknown user get the same 401', async () => {
    await d.cliInput('correct horse battery\n', 'user', 'passwd', 'alice');
    const ok = await api(d, 'POST', '/v1/sessions', { body: { user: 'alice', password: 'correct horse battery' } });
    assert.equal(ok.status, 201, ok.text);
    const token = (ok.body as { token: string }).token;
    assert.equal(((await api(d, 'GET', '/v1/me', { token })).body as { user: string }).user, 'alice');
    const bad = await api(d, 'POST', '/v1/sessions', { body: { user: 'alice', password: 'wrong one!' } });
    const ghost = await api(d, 'POST', '/v1/sessions', { body: { user: 'nobody', password: 'wrong one!' } });
    assert.deepEqual([bad.status, ghost.status], [401, 401]);
    assert.equal(messageOf(bad), messageOf(ghost));
  });

  test('quotas: 50 parallel creates never overshoot the plan\'s 5 containers', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      api(d, 'POST', '/v1/containers', { token: tokens.alice, body: { name: `q${i}`, template: 'bb', noNet: true } })));
    const made = results.filter((r) => r.status === 201).length;
    // ca is one of the five.
    assert.equal(made, 4, results.map((r) => r.status).join(','));
    const refused = results.filter((r) => r.status !== 201);
    assert.ok(refused.every((r) => r.status === 429 && /has 5 of the 5 containers its plan allows/.test(messageOf(r))), refused.map(messageOf).slice(0, 3).join(' | '));
    const held = (await api(d, 'GET', '/v1/tenants/ta', { token: tokens.alice })).body as { holdings: { containers: number } };
    assert.equal(held.holdings.containers, 5);
    for (const r of results.filter((x) => x.status === 201)) await d.ok('destroy', (r.body as { name: string }).name);
    const events = (await api(d, 'GET', '/v1/events?kind=quota-refused', { token: tokens.alice })).body as Array<{ subject: string; message: string }>;
    assert.equal(events.length, 46, `each refusal is an event of the tenant, which its users see: ${JSON.stringify(events.slice(0, 2))}`);
    assert.equal(((await api(d, 'GET', '/v1/events?kind=quota-refused', { token: tokens.bob })).body as unknown[]).length, 0, 'another tenant does not');
  });

  test('ports count against the plan; a disk limit is required once the plan caps disk', async () => {
    await d.ok('tenant', 'set', 'ta', '--disk', '1G');
    const noDisk = await api(d, 'POST', '/v1/containers', { token: tokens.alice, body: { name: 'nd', template: 'bb', noNet: true } });
    assert.equal(noDisk.status, 400);
    assert.match(messageOf(noDisk), /caps its disk at 1(\.0)? GiB: give the container a disk limit/);
    const big = await api(d, 'POST', '/v1/containers', { token: tokens.alice, body: { name: 'nd', template: 'bb', noNet: true, limits: { disk: '2G' } } });
    assert.equal(big.status, 429);
    assert.match(messageOf(big), /over its plan's 1(\.0)? GiB/);
    await d.ok('tenant', 'set', 'ta', '--disk', 'none');
    assert.equal((await api(d, 'GET', '/v1/containers/nd')).status, 404, 'nothing was left of the refused creates');
    const three = await api(d, 'POST', '/v1/containers', { token: tokens.alice, body: { name: 'cp', template: 'bb', ports: ['18081:81', '18082:82', '18083:83'] } });
    assert.equal(three.status, 429, 'three ports at create are over the plan\'s two');
    assert.match(messageOf(three), /may publish 2 port\(s\)/);
    assert.equal((await api(d, 'POST', '/v1/containers', { token: tokens.alice, body: { name: 'cp', template: 'bb', ports: ['18081:81', '18082:82'] } })).status, 201);
    const third = await api(d, 'POST', '/v1/containers/cp/ports', { token: tokens.alice, body: { spec: '18083:83' } });
    assert.equal(third.status, 429);
    assert.match(messageOf(third), /may publish 2 port\(s\) and has 2/);
    await d.ok('destroy', 'cp');
  });

  test('suspending a tenant stops its containers and refuses starts until it is lifted; nothing is deleted', async () => {
    assert.equal((await api(d, 'POST', '/v1/containers/ca/start', { token: tokens.alice })).status, 200);
    await d.ok('tenant', 'suspend', 'ta', '--reason', 'unpaid invoice');
    assert.equal(((await api(d, 'GET', '/v1/containers/ca')).body as { state: string }).state, 'stopped');
    const start = await api(d, 'POST', '/v1/containers/ca/start', { token: tokens.alice });
    assert.equal(start.status, 412);
    assert.match(messageOf(start), /tenant ta is suspended \(unpaid invoice\)/);
    assert.equal((await api(d, 'POST', '/v1/containers/cb/start', { token: tokens.bob })).status, 200, 'another tenant is not affected');
    await d.ok('tenant', 'unsuspend', 'ta');
    assert.equal((await api(d, 'POST', '/v1/containers/ca/start', { token: tokens.alice })).status, 200);
    await d.ok('stop', 'ca');
    await d.ok('stop', 'cb');
  });

  test('an administrator acts as a tenant with a header: sees only its objects, and the audit says so', async () => {
    const names = ((await api(d, 'GET', '/v1/containers?brief=true', { token: tokens.hostadm, headers: { 'strata-tenant': 'tb' } })).body as Array<{ name: string }>).map((c) => c.name);
    assert.deepEqual(names, ['cb']);
    const made = await api(d, 'POST', '/v1/containers', { token: tokens.hostadm, headers: { 'strata-tenant': 'tb' }, body: { name: 'cb2', template: 'bb', noNet: true } });
    assert.equal(made.status, 201, made.text);
    assert.equal((made.body as { tenant: string }).tenant, 'tb');
    assert.equal((await api(d, 'GET', '/v1/containers', { token: tokens.alice, headers: { 'strata-tenant': 'tb' } })).status, 403, 'only an administrator may act as a tenant');
    const audit = (await api(d, 'GET', '/v1/audit', { token: tokens.bob })).body as Array<{ actor: string; asTenant: string | null; method: string; path: string; status: number; tenant: string }>;
    assert.ok(audit.some((a) => a.actor === 'hostadm' && a.asTenant === 'tb' && a.method === 'POST' && a.path === '/v1/containers' && a.status === 201), JSON.stringify(audit.slice(0, 3)));
    assert.ok(audit.every((a) => a.tenant === 'tb' || a.asTenant === 'tb'), 'a tenant sees only its own audit entries');
    assert.ok(audit.some((a) => a.actor === 'bob' && a.status === 403), 'refused attempts are audited too');
    await d.ok('destroy', 'cb2');
  });

  test('events: a tenant sees only its containers\' events', async () => {
    const events = (await api(d, 'GET', '/v1/events', { token: tokens.bob })).body as Array<{ subject: string | null }>;
    assert.ok(events.length > 0);
    assert.ok(events.every((e) => e.subject !== 'ca'), 'none about ta\'s container');
    assert.ok(events.some((e) => e.subject === 'cb'));
  });
});

describe('a tenant\'s plan is a ceiling its containers share', () => {
  const d = useDaemon({ template: 'bb' });

  test('two containers of one tenant together stay within its memory, each alone could take more', async () => {
    await d.ok('tenant', 'create', 'tm', '--memory', '48M', '--pids', '200');
    for (const name of ['m1', 'm2']) {
      await d.ok('create', name, '--template', 'bb', '--no-net', '--tenant', 'tm');
      await d.ok('start', name);
    }
    const cg = d.paths.cgroupParent;
    const memory = join('/sys/fs/cgroup/memory', cg, 'tenant.tm');
    assert.equal(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(48 << 20), 'the tenant\'s cgroup has the plan\'s memory');
    assert.equal(readFileSync(join('/sys/fs/cgroup/pids', cg, 'tenant.tm', 'pids.max'), 'utf8').trim(), '200');
    assert.ok(readdirSync(memory).includes('m1') && readdirSync(memory).includes('m2'), 'both containers are below it');
    // Each dd holds a 30 MiB buffer for a while: alone each fits, together they cannot (no swap here).
    const hog = 'dd if=/dev/zero of=/dev/null bs=31457280 count=300 2>/dev/null && echo done';
    const runs = await Promise.all(['m1', 'm2'].map((n) => d.cli('exec', n, '--', 'sh', '-c', hog)));
    const peak = Number(readFileSync(join(memory, 'memory.max_usage_in_bytes'), 'utf8'));
    assert.ok(peak <= 48 << 20, `the two together peaked at ${peak} bytes, within the plan`);
    assert.ok(runs.some((r) => r.status !== 0 || !r.stdout.includes('done')), 'one of them was held back by the shared ceiling');
    // Raising the plan reaches the running tenant's cgroup at once.
    await d.ok('tenant', 'set', 'tm', '--memory', '256M');
    assert.equal(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(256 << 20));
    const both = await Promise.all(['m1', 'm2'].map((n) => d.cli('exec', n, '--', 'sh', '-c', hog)));
    assert.ok(both.every((r) => r.stdout.includes('done')), both.map((r) => r.stderr).join(' | '));
    for (const name of ['m1', 'm2']) await d.ok('destroy', name, '--force');
    await sleep(100);
    assert.deepEqual(d.leftovers(), [], 'the tenant\'s cgroup went with its last container');
  });
});

describe('rate limits', () => {
  const d = useDaemon({ args: ['--rate-limit', '5'] });

  test('a token gets its requests a minute, then 429 naming the limit; root on the socket is not limited', async () => {
    await d.ok('user', 'create', 'busy', '--role', 'admin');
    const token = (await d.ok('token', 'create', '--user', 'busy')).trim();
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 7; i++) {
      last = await api(d, 'GET', '/v1/me', { token });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert.match(messageOf(last as Answer), /too many requests: at most 5 a minute per token; try again in/);
    for (let i = 0; i < 10; i++) assert.equal((await api(d, 'GET', '/v1/info')).status, 200);
  });
});
