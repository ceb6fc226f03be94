// Integration: the monthly traffic quota on a real daemon. Real traffic (ping to the network's own
// gateway, on this test's bridge) is metered; over the plan the tenant's containers are shaped on
// their host veths (a TBF at 1 Mbit/s, read back with tc) or the tenant is suspended, and a larger
// plan lifts either. The month's turn is covered by the unit test (src/daemon/traffic.test.ts).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { useDaemon, sleep } from './harness.js';
import { vethName } from '../src/network/names.js';

interface View { name: string; state: string; throttled: string | null; netOut: string | null; adapters: Array<{ network: string; gateway: string }> }
interface Tenant { suspendedAt: string | null; suspendedWhy: string | null; traffic: { action: string; month: string } | null }

const qdisc = (dev: string): string => spawnSync('tc', ['qdisc', 'show', 'dev', dev], { encoding: 'utf8' }).stdout;

describe('the monthly traffic quota', () => {
  const d = useDaemon({ template: 'bb', env: { STRATA_METER_INTERVAL_MS: '300' } });
  let rootId = '';

  const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if (await ok()) return;
      await sleep(200);
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  /** About 2.4 MB to and from the gateway. */
  const send = async (name: string): Promise<void> => {
    const gw = (await d.json<View>('inspect', name)).adapters[0].gateway;
    await d.ok('exec', name, '--', 'ping', '-q', '-c', '20', '-i', '0.05', '-s', '60000', gw);
  };

  before(async () => {
    rootId = (await d.json<{ rootId: string }>('info')).rootId;
  });

  test('over its traffic, a throttle tenant\'s containers are held to 1 Mbit/s on their veths; a larger plan gives their own rates back', async () => {
    await d.ok('tenant', 'create', 'tq', '--traffic', '1M');
    await d.ok('create', 'tq1', '--template', 'bb', '--tenant', 'tq', '--net-out', '50mbit');
    await d.ok('create', 'tq2', '--template', 'bb', '--tenant', 'tq');
    await d.ok('start', 'tq1');
    const veth = vethName(rootId, 'tq1', (await d.json<View>('inspect', 'tq1')).adapters[0].network);
    assert.doesNotMatch(qdisc(veth), /rate 1Mbit/, 'not held before');
    await send('tq1');
    await until('the throttle', async () => (await d.json<View>('inspect', 'tq1')).throttled === '1mbit');
    assert.equal((await d.json<View>('inspect', 'tq2')).throttled, '1mbit', 'a stopped container of the tenant is held too (at its next start)');
    assert.equal((await d.json<View>('inspect', 'tq1')).netOut, '50mbit', 'its own rate is kept apart');
    assert.match(qdisc(veth), /tbf .*rate 1Mbit/, 'the inbound TBF on the host veth is at 1 Mbit/s');
    assert.deepEqual((await d.json<Tenant>('tenant', 'show', 'tq')).traffic?.action, 'throttle');
    assert.match(await d.ok('events', '--kind', 'traffic-throttled'), /tenant tq is over its monthly traffic/);
    await d.ok('start', 'tq2');
    assert.match(qdisc(vethName(rootId, 'tq2', (await d.json<View>('inspect', 'tq2')).adapters[0].network)), /rate 1Mbit/, 'started held');

    await d.ok('tenant', 'set', 'tq', '--traffic', '1G');
    await until('the lift', async () => (await d.json<View>('inspect', 'tq1')).throttled === null);
    assert.doesNotMatch(qdisc(veth), /rate 1Mbit/, 'no longer held');
    assert.equal((await d.json<View>('inspect', 'tq1')).netOut, '50mbit');
    assert.equal((await d.json<Tenant>('tenant', 'show', 'tq')).traffic, null);
    assert.match(await d.ok('events', '--kind', 'traffic-restored'), /tenant tq: the traffic quota's throttle is lifted/);
    for (const c of ['tq1', 'tq2']) await d.ok('destroy', c, '--force');
  });

  test('over its traffic, a suspend tenant is suspended and its containers stop; a larger plan lets them start again', async () => {
    await d.ok('tenant', 'create', 'ts', '--traffic', '1M', '--traffic-policy', 'suspend');
    await d.ok('create', 'ts1', '--template', 'bb', '--tenant', 'ts');
    await d.ok('start', 'ts1');
    await send('ts1').catch(() => undefined); // the suspension may stop it mid-way
    await until('the suspension', async () => (await d.json<View>('inspect', 'ts1')).state === 'stopped');
    const t = await d.json<Tenant>('tenant', 'show', 'ts');
    assert.match(t.suspendedWhy ?? '', /^over its monthly traffic/);
    const refused = await d.cli('start', 'ts1');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /tenant ts is suspended \(over its monthly traffic/);
    await d.ok('tenant', 'set', 'ts', '--traffic', '1G');
    await until('the lift', async () => (await d.json<Tenant>('tenant', 'show', 'ts')).suspendedAt === null);
    await d.ok('start', 'ts1');
    await d.ok('destroy', 'ts1', '--force');
  });
});
