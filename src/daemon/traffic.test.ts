// Unit: the monthly traffic quota's verdicts and the warden that acts on them, on an in-memory
// database with a clock and traffic figures of the test's own (no daemon, no network: what the
// warden asks of networks and containers is recorded here; test/traffic.test.ts shapes real veths).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MiB } from '../model/units.js';
import { AccessRecords, Store } from '../state/index.js';
import { Access, parsePlan, THROTTLE_BITS, trafficVerdict } from '../access/index.js';
import { TrafficWarden } from './traffic.js';

test('the verdict: over takes the policy once; a new month, a larger plan or another policy lifts it', () => {
  const plan = parsePlan({ traffic: '100M' });
  const none = { plan, traffic: null };
  assert.deepEqual(trafficVerdict(none, 99 * MiB, '2026-11'), { lift: null, take: null }, 'under the quota');
  assert.deepEqual(trafficVerdict(none, 100 * MiB, '2026-11'), { lift: null, take: 'throttle' }, 'throttle is the default policy');
  const held = { plan, traffic: { action: 'throttle' as const, month: '2026-11' } };
  assert.deepEqual(trafficVerdict(held, 200 * MiB, '2026-11'), { lift: null, take: null }, 'taken once a month');
  assert.deepEqual(trafficVerdict(held, 0, '2026-12'), { lift: 'throttle', take: null }, 'the month turned');
  assert.deepEqual(trafficVerdict({ ...held, plan: parsePlan({ traffic: '1G' }) }, 200 * MiB, '2026-11'), { lift: 'throttle', take: null }, 'the plan grew');
  assert.deepEqual(trafficVerdict({ ...held, plan: {} }, 200 * MiB, '2026-11'), { lift: 'throttle', take: null }, 'the quota is gone');
  assert.deepEqual(trafficVerdict({ ...held, plan: parsePlan({ traffic: '100M', trafficPolicy: 'suspend' }) }, 200 * MiB, '2026-11'),
    { lift: 'throttle', take: 'suspend' }, 'a policy changed while over: the old lifted, the new taken');
});

function fixture(): {
  access: Access; warden: TrafficWarden; used: Map<string, number>; held: Map<string, number | null>; events: string[]; stopped: string[]; clock: { now: number };
} {
  const store = new Store(':memory:');
  const access = new Access(new AccessRecords(store.db));
  store.db.prepare("INSERT INTO templates (name, kind, source, init, stop_signal, created_at) VALUES ('bb', 'os', 'x', '[]', 'TERM', 'now')").run();
  const used = new Map<string, number>();
  const held = new Map<string, number | null>();
  const events: string[] = [];
  const stopped: string[] = [];
  const clock = { now: Date.UTC(2026, 10, 20) };
  const warden = new TrafficWarden({
    records: access.records,
    usedBytes: (tenant, month) => used.get(`${tenant} ${month}`) ?? 0,
    throttle: async (name, bits) => { held.set(name, bits); },
    throttled: (name) => (held.get(name) ?? null) !== null,
    stopTenant: async (tenant) => { stopped.push(tenant); return [`${tenant}-c1`]; },
    event: (kind, tenant, message) => events.push(`${kind} ${tenant}: ${message}`),
    log: (line) => events.push(`log: ${line}`),
    now: () => clock.now,
  });
  for (const [tenant, plan] of [['t1', { traffic: '100M' }], ['t2', { traffic: '100M', trafficPolicy: 'suspend' }], ['t3', {}]] as const) {
    access.createTenant(tenant, parsePlan(plan));
    store.insertContainer({ name: `${tenant}-c1`, template: 'bb', hostname: 'h', privileged: true, autostart: false, state: 'created', pid: null, createdAt: 'now', startedAt: null, stoppedAt: null, limits: {}, volume: true, tenant });
  }
  return { access, warden, used, held, events, stopped, clock };
}

test('the warden throttles every container of a tenant over its traffic, and frees them at the month\'s turn', async () => {
  const f = fixture();
  f.used.set('t1 2026-11', 150 * MiB);
  await f.warden.check();
  assert.equal(f.held.get('t1-c1'), THROTTLE_BITS);
  assert.deepEqual(f.access.tenant('t1').traffic, { action: 'throttle', month: '2026-11' });
  assert.match(f.events.join('\n'), /traffic-throttled t1: tenant t1 is over its monthly traffic \(150 MiB of its 100 MiB in 2026-11\)/);
  assert.ok(!f.held.has('t3-c1'), 'a tenant without a traffic quota is left alone');

  // A container the tenant makes while throttled is held at the next look.
  f.held.set('t1-c1', null);
  await f.warden.check();
  assert.equal(f.held.get('t1-c1'), THROTTLE_BITS, 'held again');
  assert.equal(f.events.filter((e) => e.startsWith('traffic-throttled')).length, 1, 'one event, not one a tick');

  f.clock.now = Date.UTC(2026, 11, 1, 0, 0, 5);
  await f.warden.check();
  assert.equal(f.held.get('t1-c1'), null, 'freed in December');
  assert.equal(f.access.tenant('t1').traffic, null);
  assert.match(f.events.at(-1)!, /traffic-restored t1: .*throttle is lifted/);
});

test('the warden suspends by policy, lifts only its own suspension, and leaves a host administrator\'s', async () => {
  const f = fixture();
  f.used.set('t2 2026-11', 101 * MiB);
  await f.warden.check();
  assert.deepEqual(f.stopped, ['t2']);
  const t2 = f.access.tenant('t2');
  assert.ok(t2.suspendedAt);
  assert.match(t2.suspendedWhy ?? '', /^over its monthly traffic \(101 MiB of its 100 MiB in 2026-11\)/);
  assert.match(f.events.join('\n'), /traffic-suspended t2: .*stopped t2-c1/);

  // The plan grows: the warden's suspension goes.
  f.access.setPlan('t2', parsePlan({ traffic: '1G', trafficPolicy: 'suspend' }));
  await f.warden.check();
  assert.equal(f.access.tenant('t2').suspendedAt, null, 'lifted');

  // Over again, then the host suspends it for its own reason: the turn of the month leaves that.
  f.access.setPlan('t2', parsePlan({ traffic: '100M', trafficPolicy: 'suspend' }));
  await f.warden.check();
  assert.ok(f.access.tenant('t2').suspendedAt);
  f.access.setSuspended('t2', 'unpaid invoice');
  f.clock.now = Date.UTC(2026, 11, 1);
  await f.warden.check();
  assert.equal(f.access.tenant('t2').suspendedWhy, 'unpaid invoice', "the host's suspension stays");
  assert.equal(f.access.tenant('t2').traffic, null);
  assert.match(f.events.at(-1)!, /host's own suspension stays/);
});
