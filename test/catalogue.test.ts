// Integration: real Debian services captured from apt (the mirror, as debootstrap uses) and
// composed in one container: nginx, redis-server, postgresql, mariadb-server, apache2 with
// mod_php and openssh-server each answer their real client (curl, redis-cli, psql, mysql, ssh
// with a key) after a start, attached together at create and attached live to a running
// container, then detached one by one; on Debian with systemd and with sysvinit.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDebian, sleep, useDaemon } from './harness.js';

/** A service captured from apt, and how a client proves it works in container `ct`. */
interface Service {
  name: string;
  install: string;
}

/** apache2 with mod_php listens on 8080 (nginx has 80) and serves a PHP page that computes. */
const PHP_SETUP = 'sed -i "s/^Listen 80$/Listen 8080/" /etc/apache2/ports.conf && sed -i "s/:80>/:8080>/" /etc/apache2/sites-available/000-default.conf'
  + ' && echo "<?php echo 40 + 2, PHP_EOL;" > /var/www/html/answer.php';

const SERVICES: Service[] = [
  { name: 'nginx', install: 'nginx' },
  { name: 'redis-server', install: 'redis-server' },
  { name: 'postgresql', install: 'postgresql' },
  { name: 'mariadb-server', install: 'mariadb-server' },
  { name: 'php', install: `apache2 libapache2-mod-php && ${PHP_SETUP}` },
  { name: 'openssh-server', install: 'openssh-server' },
];
const NAMES = SERVICES.map((s) => s.name);

/** Tries `check` for up to 30 s (services start in the background after init). */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await sleep(200);
  }
  assert.fail(`${what} did not answer within 30 s`);
}

async function httpGet(port: number, path = '/'): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

// The host's ssh client logs in with a key made for this run (ssh-keygen, openssh-client).
const keyDir = mkdtempSync('/tmp/strata-test-sshkey-');
const KEY = join(keyDir, 'id_ed25519');
spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', KEY]);
process.on('exit', () => rmSync(keyDir, { recursive: true, force: true }));

function ssh(address: string, command: string): { status: number | null; out: string } {
  const r = spawnSync('ssh', ['-i', KEY, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=3', '-o', 'LogLevel=ERROR',
    `root@${address}`, command], { timeout: 10_000 });
  return { status: r.status, out: r.stdout.toString() + r.stderr.toString() };
}

for (const init of ['systemd', 'sysvinit'] as const) {
describe(`application templates of real Debian services (Debian with ${init})`, () => {
  const d = useDaemon();
  const port = 20000 + Math.floor(Math.random() * 20000);
  before(async () => {
    await sharedDebian(d, 'deb', { init });
    for (const s of SERVICES) {
      const t0 = Date.now();
      const r = await d.cli('template', 'capture', s.name, '--base', 'deb', '--net', 'default', '--', 'sh', '-c', `apt-get update -q && apt-get install -y -q ${s.install}`);
      assert.equal(r.status, 0, r.stderr.slice(-3000));
      console.log(`figure: ${init}: capture of ${s.name} ${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.stdout.trim()}`);
    }
  });

  const address = async (ct: string): Promise<string> => {
    const v = await d.json<{ adapters: Array<{ address: string }> }>('inspect', ct);
    return v.adapters[0].address.split('/')[0];
  };

  /** Every attached service answers its real client; `gone` ones are not there at all. */
  const answers = async (ct: string, httpPort: number, present: string[] = NAMES): Promise<void> => {
    const has = (n: string): boolean => present.includes(n);
    if (has('nginx')) await eventually(`nginx in ${ct}`, async () => (await httpGet(httpPort)).status === 200);
    if (has('php')) await eventually(`apache2 with PHP in ${ct}`, async () => (await httpGet(httpPort + 1, '/answer.php')).body.trim() === '42');
    if (has('redis-server')) await eventually(`redis in ${ct}`, async () => /PONG/.test((await d.cli('exec', ct, '--', 'redis-cli', 'ping')).stdout));
    if (has('postgresql')) await eventually(`postgresql in ${ct}`, async () => (await d.cli('exec', ct, '--user', 'postgres', '--', 'psql', '-tAc', 'select 40+2')).stdout.trim() === '42');
    if (has('mariadb-server')) await eventually(`mariadb in ${ct}`, async () => (await d.cli('exec', ct, '--', 'mysql', '-Nse', 'select 40+2')).stdout.trim() === '42');
    if (has('openssh-server')) {
      const pub = readFileSync(`${KEY}.pub`, 'utf8').trim();
      await d.ok('exec', ct, '--', 'sh', '-c', `mkdir -p -m 700 /root/.ssh && echo '${pub}' > /root/.ssh/authorized_keys`);
      const addr = await address(ct);
      await eventually(`sshd in ${ct}`, async () => ssh(addr, 'echo $((40+2))').out.trim() === '42');
    }
  };

  /** No user left without its shadow line or primary group, no group without its gshadow line. */
  const usersWhole = async (ct: string): Promise<void> => {
    const read = async (f: string): Promise<string[]> => (await d.ok('exec', ct, '--', 'cat', f)).split('\n').filter(Boolean).map((l) => l.split(':')[0]);
    const fields = (await d.ok('exec', ct, '--', 'cat', '/etc/passwd')).split('\n').filter(Boolean).map((l) => l.split(':'));
    const shadow = new Set(await read('/etc/shadow'));
    const groupLines = (await d.ok('exec', ct, '--', 'cat', '/etc/group')).split('\n').filter(Boolean).map((l) => l.split(':'));
    const gids = new Set(groupLines.map((g) => g[2]));
    const gshadow = new Set(await read('/etc/gshadow'));
    for (const f of fields) {
      assert.ok(shadow.has(f[0]), `${ct}: user ${f[0]} has a shadow line`);
      assert.ok(gids.has(f[3]), `${ct}: user ${f[0]}'s primary group ${f[3]} exists`);
    }
    for (const g of groupLines) assert.ok(gshadow.has(g[0]), `${ct}: group ${g[0]} has a gshadow line`);
    for (const name of shadow) assert.ok(fields.some((f) => f[0] === name), `${ct}: shadow line ${name} has its user`);
  };

  test('a capture keeps the directories a service needs under volatile paths (/var/log/nginx), and no derived file', async () => {
    await d.ok('create', 'cat0', '--template', 'deb', '--no-net', '--app', 'nginx');
    await d.ok('start', 'cat0');
    assert.match(await d.ok('exec', 'cat0', '--', 'stat', '-c', '%U:%G', '/var/log/nginx'), /root:adm/);
    await d.ok('destroy', 'cat0', '--force');
    const tree = join(d.root, 'templates', 'openssh-server', 'v1', 'tree');
    assert.equal(existsSync(join(tree, 'etc/ld.so.cache')), false, 'the linker cache is recomputed, not captured');
    assert.deepEqual(readdirSync(join(tree, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_')), [], 'host keys are each container\'s own');
  });

  test('attached together at create, every service starts at boot and answers its client', { timeout: 8 * 60_000 }, async () => {
    await d.ok('create', 'cat1', '--template', 'deb', '--port', `${port}:80`, '--port', `${port + 1}:8080`, ...NAMES.flatMap((p) => ['--app', p]));
    const t0 = Date.now();
    await d.ok('start', 'cat1');
    await answers('cat1', port);
    console.log(`figure: ${init}: from start until ${NAMES.join(', ')} all answer: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    if (init === 'sysvinit') {
      // The boot order file lists every template's services, whichever template is on top.
      const targets = await d.ok('exec', 'cat1', '--', 'head', '-1', '/etc/init.d/.depend.start');
      for (const s of ['nginx', 'redis-server', 'postgresql', 'mariadb', 'apache2', 'ssh']) assert.match(targets, new RegExp(`\\b${s}\\b`));
    } else {
      await eventually('systemd in cat1 to finish starting', async () => (await d.cli('exec', 'cat1', '--', 'systemctl', 'is-system-running')).stdout.trim() === 'running');
    }
    // Derived files were computed for the whole set: the linker cache has every template's
    // libraries, whichever template's layer is on top.
    const cache = await d.ok('exec', 'cat1', '--', 'ldconfig', '-p');
    for (const lib of ['libpq.so.5', 'libmariadb.so.3', 'libjemalloc.so.2', 'libapr-1.so.0']) assert.match(cache, new RegExp(lib.replace(/\./g, '\\.')), lib);
    const keys = await d.ok('exec', 'cat1', '--', 'cat', '/etc/ssh/ssh_host_ed25519_key.pub');
    await d.ok('restart', 'cat1');
    await answers('cat1', port);
    assert.equal(await d.ok('exec', 'cat1', '--', 'cat', '/etc/ssh/ssh_host_ed25519_key.pub'), keys, 'the host keys stay the container\'s');
    await usersWhole('cat1');
    await d.ok('destroy', 'cat1', '--force');
  });

  test('attached live to a running container, they answer; each detached in turn leaves the others working', { timeout: 12 * 60_000 }, async () => {
    await d.ok('create', 'cat2', '--template', 'deb', '--port', `${port + 2}:80`, '--port', `${port + 3}:8080`);
    await d.ok('start', 'cat2');
    for (const p of NAMES) await d.ok('attach', 'cat2', p);
    await d.ok('restart', 'cat2');
    await answers('cat2', port + 2);
    let present = [...NAMES];
    for (const gone of NAMES) {
      await d.ok('stop', 'cat2');
      await d.ok('detach', 'cat2', gone);
      present = present.filter((n) => n !== gone);
      await d.ok('start', 'cat2');
      await answers('cat2', port + 2, present);
      await usersWhole('cat2');
    }
    // Nothing of any of them is left: no service user, no package.
    const passwd = await d.ok('exec', 'cat2', '--', 'cat', '/etc/passwd');
    for (const user of ['redis', 'postgres', 'mysql', 'sshd']) assert.doesNotMatch(passwd, new RegExp(`^${user}:`, 'm'));
    assert.equal((await d.cli('exec', 'cat2', '--', 'dpkg', '-s', 'nginx')).status, 1, 'nginx is not installed any more');
    await d.ok('destroy', 'cat2', '--force');
    assert.deepEqual(d.leftovers(), []);
  });

  if (init === 'systemd') {
    // A second data root, as a second host would be, for the restore of a backup.
    const other = useDaemon();
    // The last line: SET commands before a query print their tags first.
    const psql = (dd: typeof d, ct: string, sql: string): Promise<string> => dd.ok('exec', ct, '--user', 'postgres', '--', 'psql', '-tAc', sql).then((o) => o.trim().split('\n').pop() ?? '');
    const pgUp = (dd: typeof d, ct: string): Promise<void> => eventually(`postgresql in ${ct}`, async () => (await dd.cli('exec', ct, '--user', 'postgres', '--', 'psql', '-tAc', 'select 40+2')).stdout.trim() === '42');
    /** The table read by a sequential scan and through its index agree (heap and index consistent). */
    const counts = async (dd: typeof d, ct: string): Promise<{ all: number; before: number; after: number }> => {
      const seq = Number(await psql(dd, ct, 'set enable_indexscan=off; set enable_bitmapscan=off; select count(*) from t'));
      const byIndex = Number(await psql(dd, ct, 'set enable_seqscan=off; select count(*) from t where id > 0'));
      assert.equal(byIndex, seq, `${ct}: the index and the table agree`);
      return { all: seq, before: Number(await psql(dd, ct, "select count(*) from t where v = 'before'")), after: Number(await psql(dd, ct, "select count(*) from t where v = 'after'")) };
    };

    test('a running PostgreSQL container: a snapshot under writes restores it consistent; a backup restores it on another data root', { timeout: 12 * 60_000 }, async () => {
      await d.ok('create', 'cat3', '--template', 'deb', '--app', 'postgresql', '--app', 'nginx', '--port', `${port + 4}:80`);
      await d.ok('start', 'cat3');
      await pgUp(d, 'cat3');
      await psql(d, 'cat3', "create table t (id serial primary key, v text); insert into t (v) select 'before' from generate_series(1, 1000)");
      // Taken while a writer inserts row after row: frozen for the instant, so one point in its time.
      const writer = d.cli('exec', 'cat3', '--user', 'postgres', '--', 'sh', '-c', 'for i in $(seq 1 300); do psql -qc "insert into t (v) values (\'load\')"; done');
      await sleep(1500);
      const snap = await d.json<{ frozenMs: number; sizeBytes: number }>('snapshot', 'create', 'cat3', 'live');
      assert.equal((await writer).status, 0, 'the writer went on after the freeze');
      await psql(d, 'cat3', "insert into t (v) values ('after')");
      await d.ok('stop', 'cat3');
      await d.ok('snapshot', 'restore', 'cat3', 'live');
      await d.ok('start', 'cat3');
      await pgUp(d, 'cat3');
      const c = await counts(d, 'cat3');
      assert.equal(c.before, 1000);
      assert.equal(c.after, 0, 'a row written after the snapshot is gone');
      assert.ok(c.all > 1000 && c.all < 1300, `the rows the writer had committed at the snapshot (${c.all - 1000} of 300)`);
      console.log(`figure: snapshot of a running Debian container with PostgreSQL under writes: frozen ${snap.frozenMs.toFixed(0)} ms, ${(snap.sizeBytes / 2 ** 20).toFixed(1)} MiB copied`);

      const dir = mkdtempSync('/tmp/strata-test-pgbackup-');
      try {
        const t0 = Date.now();
        const full = await d.json<{ bytes: number; frozenMs: number }>('backup', 'cat3', '-o', join(dir, 'full.backup'), '--with-templates');
        const fullSeconds = (Date.now() - t0) / 1000;
        const bare = await d.json<{ bytes: number }>('backup', 'cat3', '-o', join(dir, 'bare.backup'));
        console.log(`figure: backup of a Debian container with two application templates (postgresql, nginx): ${(bare.bytes / 2 ** 20).toFixed(1)} MiB without templates, ${(full.bytes / 2 ** 20).toFixed(1)} MiB with them (${fullSeconds.toFixed(1)} s, frozen ${full.frozenMs.toFixed(0)} ms)`);
        await d.ok('stop', 'cat3');
        const t1 = Date.now();
        await other.ok('restore', join(dir, 'full.backup'));
        console.log(`figure: restore of it with its templates on an empty data root: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
        await other.ok('start', 'cat3');
        await pgUp(other, 'cat3');
        assert.deepEqual(await counts(other, 'cat3'), c, 'the same rows on the other data root');
        await eventually('nginx in the restored cat3', async () => (await httpGet(port + 4)).status === 200);
        await other.ok('destroy', 'cat3', '--force');
        assert.deepEqual(other.leftovers(), []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      await d.ok('destroy', 'cat3', '--force');
    });
  }
});
}
