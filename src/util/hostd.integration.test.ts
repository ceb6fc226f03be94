// strata-hostd, the real binary, on the real kernel. Its bridge ports are made in a network
// namespace of its own (`unshare --net`), so nothing on the host's network changes; its nft
// tables and mounts are the host's, named with this run's prefix and removed afterwards.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { nativeHelper } from '../config/index.js';
import { HostOpError, StrataError } from '../errors/index.js';
import { mountPoints } from '../../test/harness.js';
import { HostHelper } from './hostd.js';

const prefix = `sthd${randomBytes(3).toString('hex')}`;
const binary = nativeHelper('strata-hostd');
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StrataError, `a StrataError: ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('strata-hostd', () => {
  const helper = new HostHelper(binary);
  const work = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const table = `${prefix}_t`;
  after(() => {
    for (const m of mountPoints().filter((p) => p.startsWith(work)).reverse()) execFileSync('umount', ['-l', m]);
    rmSync(work, { recursive: true, force: true });
    spawnSync('nft', ['delete', 'table', 'ip', table], { stdio: 'ignore' });
  });

  test('runs nft scripts as one transaction, and says what nft says when one is wrong', async () => {
    await helper.nft(`add table ip ${table}\nadd chain ip ${table} c\nadd rule ip ${table} c counter accept\n`, 'test');
    assert.match(await helper.nft('list tables\n'), new RegExp(`^table ip ${table}$`, 'm'));
    assert.match(sh('nft', ['list', 'chain', 'ip', table, 'c']), /counter packets \d+ bytes \d+ accept/);
    // The second command fails: the first is not applied either (one transaction).
    await rejects(helper.nft(`add chain ip ${table} d\nadd rule ip ${table} nowhere accept\n`, 'adding rules'), 'internal', /^adding rules: .*No such file or directory/);
    assert.doesNotMatch(sh('nft', ['list', 'table', 'ip', table]), /chain d/);
    await rejects(helper.nft('list fooo\n'), 'internal', /syntax error/);
    await helper.nft(`delete table ip ${table}\n`);
    assert.doesNotMatch(sh('nft', ['list', 'tables']), new RegExp(table));
  });

  test('mounts through strata-idmount\'s code, tells mount points, unmounts, and skips what is not mounted', async () => {
    const [lower, upper, wk, target] = ['lower', 'upper', 'work', 'root'].map((d) => join(work, d));
    for (const d of [lower, upper, wk, target]) mkdirSync(d);
    writeFileSync(join(lower, 'from-lower'), 'yes');
    await helper.idmount(['batch', 'overlay', lower, upper, wk, target], 'mounting a root');
    assert.ok(mountPoints().includes(target));
    assert.equal(readFileSync(join(target, 'from-lower'), 'utf8'), 'yes');
    assert.deepEqual(await helper.mountPoints([target, lower, join(target, 'from-lower'), join(work, 'nothing-here')]), new Set([target]));
    await rejects(helper.idmount(['batch', 'overlay', join(work, 'none'), upper, wk, join(work, 'none2')], 'mounting another'),
      'internal', /^mounting another: strata-idmount: mount overlay at .*none2.*No such file or directory/);
    await helper.unmount([target, join(work, 'lower')], 'unmounting');
    assert.ok(!mountPoints().includes(target));
    assert.deepEqual(await helper.mountPoints([target]), new Set());
    await helper.unmount([target]); // not mounted any more: nothing to do
    await rejects(helper.idmount(['batch', 'bogus']), 'internal', /bad operation bogus/);
  });

  test('sets up a bridge port through netlink: renamed, up, no IPv6 address, no learning or flooding, isolated, static entry', async () => {
    const inNs = new HostHelper(binary, ['unshare', '--net']);
    try {
      const pid = await inNs.ping();
      const ip = (...args: string[]): string => sh('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args]);
      ip('link', 'add', 'br0', 'type', 'bridge');
      ip('link', 'add', 'vethtmp', 'type', 'veth', 'peer', 'name', 'inside');
      ip('link', 'set', 'vethtmp', 'master', 'br0', 'up');
      ip('link', 'set', 'inside', 'up'); // a carrier: an IPv6 link would get its link-local address now
      const mac = '02:42:ac:11:00:07';
      await inNs.configurePort('vethtmp', 'port0', mac, true, 'attaching');
      const link = JSON.parse(ip('-d', '-j', 'link', 'show', 'dev', 'port0'))[0] as { flags: string[]; linkinfo: { info_slave_data: Record<string, unknown> } };
      assert.ok(link.flags.includes('UP'), JSON.stringify(link.flags));
      const port = link.linkinfo.info_slave_data;
      assert.equal(port.learning, false);
      assert.equal(port.flood, false);
      assert.equal(port.isolated, true);
      const fdb = sh('nsenter', [`--net=/proc/${pid}/ns/net`, 'bridge', 'fdb', 'show', 'dev', 'port0']);
      assert.match(fdb, new RegExp(`^${mac} master br0 static$`, 'm'));
      // A layer-2 port: no IPv6 address of its own (whose duplicate detection would walk the host's routes).
      assert.deepEqual((JSON.parse(ip('-6', '-j', 'addr', 'show', 'dev', 'port0')) as Array<{ addr_info: unknown[] }>).flatMap((l) => l.addr_info), []);
      // Again with the name it has now: only the flags and the entry.
      await inNs.configurePort('port0', 'port0', mac, false);
      assert.equal((JSON.parse(ip('-d', '-j', 'link', 'show', 'dev', 'port0'))[0] as typeof link).linkinfo.info_slave_data.isolated, false);
      await rejects(inNs.configurePort('nolink', 'port1', mac, false, 'attaching web'), 'internal', /^attaching web: .*no link nolink/);
      await rejects(inNs.configurePort('port0', 'port1', 'not-a-mac', false), 'internal', /not-a-mac is not a MAC address/);
      await rejects(inNs.configurePort('port0', 'a-name-far-too-long', mac, false), 'internal', /longer than 15 characters/);
    } finally {
      inNs.stop();
    }
  });

  test('a helper that died is started again; what it had not answered fails clearly', async () => {
    const first = await helper.ping();
    process.kill(first, 'SIGKILL');
    // Asked before its end is noticed: it fails as one in flight would, and the next starts another.
    await rejects(helper.ping(), 'unavailable', /host helper .*strata-hostd stopped \(SIGKILL\)/);
    const second = await helper.ping();
    assert.notEqual(second, first);
    assert.ok(!alive(first) || readFileSync(`/proc/${first}/stat`, 'utf8').includes(') Z'));
    // One in flight when it dies: a script that takes a while is still being read.
    const pending = helper.nft(`${'list tables\n'.repeat(20000)}`);
    process.kill(second, 'SIGKILL');
    await rejects(pending, 'unavailable', /host helper .*strata-hostd stopped/);
    assert.ok((await helper.ping()) > 0);
  });

  test('a missing binary says how to build it', async () => {
    const missing = new HostHelper(join(work, 'no-such-helper'));
    await rejects(missing.ping(), 'unavailable', /is missing: run 'npm run build'/);
  });

  test('its process ends when its client goes', async () => {
    const pid = await helper.ping();
    helper.stop();
    for (let i = 0; i < 100 && alive(pid) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!alive(pid) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 'the helper exited');
  });

  test('a HostOpError is an internal StrataError', () => {
    const err = new HostOpError('NFT', 1, 'Error: one\nError: two\n', 'adding rules');
    assert.equal(err.code, 'internal');
    assert.equal(err.message, 'adding rules: Error: one / Error: two');
  });
});
