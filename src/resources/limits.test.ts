// The pure core of resource control: parsing, validation, merging, description
// and the OCI translation, on plain data.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgument, FailedPrecondition } from '../errors/index.js';
import { GiB, KiB, MiB, parseSize, TiB } from '../model/units.js';
import {
  describeLimits, formatCpuList, hostCapacity, mergeLimits, parseCpuList, parseLimits,
  runcV2SharesToWeight, sharesToWeight, toOciResources, weightToRuncV2Shares, weightToShares, type HostCapacity,
} from './limits.js';

const host: HostCapacity = { cpus: 4, memoryBytes: 8 * GiB, cpusetAvailable: [0, 1, 2, 3], swapAccounting: true };

/** Asserts that parsing `raw` fails with one InvalidArgument whose message matches. */
function refuses(raw: Record<string, string | number>, message: RegExp, h: HostCapacity = host): void {
  assert.throws(() => parseLimits(raw, h), (err: unknown) => {
    assert.ok(err instanceof InvalidArgument, `an InvalidArgument, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('parseSize', () => {
  const cases: Array<[string, number]> = [
    ['0', 0], ['1048576', MiB], ['512', 512], ['512b', 512], ['64k', 64 * KiB], ['64K', 64 * KiB], ['64KiB', 64 * KiB],
    ['64kb', 64 * KiB], ['512M', 512 * MiB], ['512m', 512 * MiB], ['512MiB', 512 * MiB], ['512mib', 512 * MiB],
    ['1G', GiB], ['1.5G', 1.5 * GiB], ['1.5gib', 1.5 * GiB], ['2T', 2 * TiB], ['2TiB', 2 * TiB], [' 3 M ', 3 * MiB],
  ];
  for (const [text, bytes] of cases) test(`'${text}' is ${bytes} bytes`, () => assert.equal(parseSize(text, '--memory'), bytes));

  for (const bad of ['', 'abc', '12X', 'M', '1..5G', '-1M', '1e3', '0x10', '5 G B', '1.5']) {
    test(`'${bad}' is refused with the flag named and the fix`, () => {
      assert.throws(() => parseSize(bad, '--memory'), (err: unknown) => {
        assert.ok(err instanceof InvalidArgument);
        assert.match(err.message, /^invalid --memory '.*': .*(K, M, G or T|whole number)/);
        return true;
      });
    });
  }
  test('a size beyond what a number holds exactly is refused', () => {
    assert.throws(() => parseSize('99999999999T', '--disk'), /too large/);
  });
});

describe('CPU lists', () => {
  test('parse and format', () => {
    assert.deepEqual(parseCpuList('0-1,3'), [0, 1, 3]);
    assert.deepEqual(parseCpuList('3,0-1,1'), [0, 1, 3]);
    assert.equal(parseCpuList('1-0'), null);
    assert.equal(parseCpuList('a'), null);
    assert.equal(parseCpuList('0,,1'), null);
    assert.equal(formatCpuList([3, 0, 1, 2, 7]), '0-3,7');
    assert.equal(formatCpuList([5]), '5');
  });
});

describe('parseLimits: good input', () => {
  test('every limit, as text', () => {
    const l = parseLimits({
      cpus: '1.5', cpuWeight: '200', cpuset: '0-1,3', memory: '512M', swap: '256M', pids: '100', ioWeight: '300',
      ioReadBps: '10M', ioWriteBps: '5MiB', ioReadIops: '500', ioWriteIops: '250', disk: '20G',
    }, host);
    assert.deepEqual(l, {
      cpus: 1.5, cpuWeight: 200, cpuset: '0-1,3', memory: 512 * MiB, swap: 256 * MiB, pids: 100, ioWeight: 300,
      ioReadBps: 10 * MiB, ioWriteBps: 5 * MiB, ioReadIops: 500, ioWriteIops: 250, disk: 20 * GiB,
    });
  });
  test('numbers as the API may send them', () => {
    assert.deepEqual(parseLimits({ cpus: 2, memory: 64 * MiB, pids: 10 }, host), { cpus: 2, memory: 64 * MiB, pids: 10 });
  });
  test('absent keys stay undefined (unchanged); undefined values are skipped', () => {
    assert.deepEqual(parseLimits({}, host), {});
    assert.deepEqual(parseLimits({ memory: undefined, pids: '5' }, host), { pids: 5 });
  });
  test('none / max / unlimited remove a limit (null)', () => {
    const l = parseLimits({ cpus: 'none', cpuWeight: 'max', cpuset: 'NONE', memory: 'none', pids: 'unlimited', ioWeight: 'none', ioReadBps: 'max', disk: 'none' }, host);
    assert.deepEqual(l, { cpus: null, cpuWeight: null, cpuset: null, memory: null, pids: null, ioWeight: null, ioReadBps: null, disk: null });
  });
  test('--swap none means no swap (0); --swap max removes the swap limit (null)', () => {
    assert.equal(parseLimits({ swap: 'none' }, host).swap, 0);
    assert.equal(parseLimits({ swap: '0' }, host).swap, 0);
    assert.equal(parseLimits({ swap: 'max' }, host).swap, null);
    assert.equal(parseLimits({ swap: 'unlimited' }, host).swap, null);
  });
  test('the bounds themselves are accepted', () => {
    assert.deepEqual(parseLimits({ cpus: '4', cpuWeight: '1', memory: '4M', pids: '1', ioWeight: '10', disk: '16M' }, host),
      { cpus: 4, cpuWeight: 1, memory: 4 * MiB, pids: 1, ioWeight: 10, disk: 16 * MiB });
    assert.deepEqual(parseLimits({ cpus: '0.01', cpuWeight: '10000', memory: '8G', pids: '4194304', ioWeight: '1000' }, host),
      { cpus: 0.01, cpuWeight: 10000, memory: 8 * GiB, pids: 4194304, ioWeight: 1000 });
  });
  test('a cpuset is canonicalized', () => {
    assert.equal(parseLimits({ cpuset: '3,1,0-1' }, host).cpuset, '0-1,3');
  });
});

describe('parseLimits: bad input, one clear error', () => {
  const cases: Array<[string, Record<string, string | number>, RegExp]> = [
    ['unknown key', { cpu: '1' }, /unknown limit 'cpu': the limits are --cpus, --cpu-weight/],
    ['empty value', { memory: '' }, /--memory is empty: give a value, or none/],
    ['cpus unparseable', { cpus: 'lots' }, /invalid --cpus 'lots': not a number; give e\.g\. 1\.5/],
    ['cpus zero', { cpus: '0' }, /invalid --cpus 0: must be more than 0/],
    ['cpus negative', { cpus: '-1' }, /invalid --cpus -1: must be more than 0/],
    ['cpus below the kernel minimum', { cpus: '0.001' }, /smallest CPU cap is 0\.01/],
    ['cpus beyond the host', { cpus: '5' }, /this host has 4 CPUs; give at most 4/],
    ['cpu weight unparseable', { cpuWeight: 'high' }, /invalid --cpu-weight 'high': not a number/],
    ['cpu weight fractional', { cpuWeight: '1.5' }, /invalid --cpu-weight '1\.5': must be a whole number/],
    ['cpu weight zero', { cpuWeight: '0' }, /CPU weight is 1\.\.10000 \(100 is the default share\)/],
    ['cpu weight too big', { cpuWeight: '10001' }, /CPU weight is 1\.\.10000/],
    ['cpuset unparseable', { cpuset: 'zero' }, /invalid --cpuset 'zero': not a CPU list; give CPU numbers and ranges such as 0-1,3/],
    ['cpuset reversed range', { cpuset: '3-1' }, /not a CPU list/],
    ['cpuset beyond the host', { cpuset: '0,4-5' }, /this host has no CPU 4-5; its CPUs are 0-3/],
    ['memory unparseable', { memory: '12X' }, /invalid --memory '12X': not a size; give a byte count or a number with K, M, G or T/],
    ['memory negative', { memory: '-5M' }, /invalid --memory '-5M': a size cannot be negative/],
    ['memory negative number', { memory: -5 }, /invalid --memory -5: a size cannot be negative/],
    ['memory zero', { memory: '0' }, /a memory limit of 0 is meaningless; give at least 4 MiB, or none/],
    ['memory too small', { memory: '1M' }, /invalid --memory 1M: too small for a container; give at least 4 MiB/],
    ['memory beyond the host', { memory: '9G' }, /this host has 8 GiB of memory; give at most that/],
    ['memory fractional bytes', { memory: 5000000.5 }, /a size in bytes must be a whole number/],
    ['swap unparseable', { swap: 'lots' }, /invalid --swap 'lots': not a size/],
    ['swap negative', { swap: '-1G' }, /invalid --swap '-1G': a size cannot be negative/],
    ['pids unparseable', { pids: 'many' }, /invalid --pids 'many': not a number; give e\.g\. 512/],
    ['pids zero', { pids: '0' }, /invalid --pids 0: a container needs at least 1 process/],
    ['pids negative', { pids: '-3' }, /needs at least 1 process/],
    ['pids fractional', { pids: '2.5' }, /must be a whole number/],
    ['pids beyond the kernel', { pids: '4194305' }, /the kernel allows at most 4194304 processes/],
    ['io weight too small', { ioWeight: '5' }, /an I\/O weight is 10\.\.1000 \(100 is the default share\)/],
    ['io weight too big', { ioWeight: '1001' }, /an I\/O weight is 10\.\.1000/],
    ['io weight unparseable', { ioWeight: 'fast' }, /invalid --io-weight 'fast': not a number/],
    ['read bps zero', { ioReadBps: '0' }, /invalid --io-read-bps 0: a rate of 0 would stop all I\/O/],
    ['write bps unparseable', { ioWriteBps: 'quick' }, /invalid --io-write-bps 'quick': not a size/],
    ['write bps negative', { ioWriteBps: '-1M' }, /cannot be negative/],
    ['read iops zero', { ioReadIops: '0' }, /invalid --io-read-iops 0: must be at least 1 operation per second/],
    ['write iops negative', { ioWriteIops: '-10' }, /invalid --io-write-iops -10: must be at least 1/],
    ['write iops unparseable', { ioWriteIops: '10M' }, /invalid --io-write-iops '10M': not a number/],
    ['disk zero', { disk: '0' }, /invalid --disk 0: too small for a private area; give at least 16 MiB/],
    ['disk too small', { disk: '1M' }, /give at least 16 MiB/],
    ['disk unparseable', { disk: 'big' }, /invalid --disk 'big': not a size/],
  ];
  for (const [name, raw, message] of cases) test(name, () => refuses(raw, message));

  test('several problems come as one error naming each, and nothing is returned', () => {
    refuses({ cpus: '0', memory: '1M', pids: 'x' }, /^3 problems with the limits, nothing changed: invalid --cpus 0: .*; invalid --memory 1M: .*; invalid --pids 'x'/);
  });
  test('without swap accounting only --swap none/0 (and max) are accepted', () => {
    const noSwap = { ...host, swapAccounting: false };
    assert.equal(parseLimits({ swap: 'none' }, noSwap).swap, 0);
    assert.equal(parseLimits({ swap: '0' }, noSwap).swap, 0);
    assert.equal(parseLimits({ swap: 'max' }, noSwap).swap, null);
    refuses({ swap: '1G' }, /invalid --swap 1G: this host has no swap accounting: .*give --swap none \(or 0\)/, noSwap);
  });
});

describe('mergeLimits and describeLimits', () => {
  test('undefined keeps, null clears, a value replaces', () => {
    const current = { cpus: 1, memory: 64 * MiB, pids: 10 };
    assert.deepEqual(mergeLimits(current, { memory: null, pids: 20, cpuWeight: 300 }), { cpus: 1, memory: null, pids: 20, cpuWeight: 300 });
    assert.deepEqual(mergeLimits(current, {}), current);
    assert.deepEqual(current, { cpus: 1, memory: 64 * MiB, pids: 10 }, 'the input is not changed');
  });
  test('descriptions for humans', () => {
    assert.equal(describeLimits({}), 'no limits');
    assert.equal(describeLimits({ cpus: 1.5, memory: 512 * MiB, swap: 0, pids: 100 }), 'cpus 1.5, memory 512 MiB, swap none, pids 100');
    assert.equal(describeLimits({ memory: null, cpuWeight: null, cpuset: null }), 'cpu weight default, cpuset all CPUs, memory unlimited');
    assert.equal(describeLimits({ ioReadBps: 10 * MiB, ioWriteIops: 50, disk: 1.5 * GiB }), 'io read 10 MiB/s, io write 50 ops/s, disk 1.5 GiB');
  });
});

describe('weights', () => {
  test('v1 shares: weight 100 is the default 1024 shares, linear, within the kernel range', () => {
    assert.equal(weightToShares(100), 1024);
    assert.equal(weightToShares(200), 2048);
    assert.equal(weightToShares(1), 10);
    assert.equal(weightToShares(10000), 102400);
    for (const w of [1, 7, 50, 100, 333, 10000]) assert.ok(Math.abs(sharesToWeight(weightToShares(w)) - w) <= 1);
  });
  test('v2: the shares given to runc come back as exactly the weight', () => {
    for (let w = 1; w <= 10000; w++) assert.equal(runcV2SharesToWeight(weightToRuncV2Shares(w)), w);
    assert.equal(runcV2SharesToWeight(1024), 39, "runc's own mapping, for reference: 1024 shares are weight 39");
  });
});

describe('toOciResources', () => {
  const dev = { major: 8, minor: 0 };
  const all = {
    cpus: 1.5, cpuWeight: 200, cpuset: '0-1', memory: 512 * MiB, swap: 256 * MiB, pids: 100, ioWeight: 300,
    ioReadBps: 10 * MiB, ioWriteBps: 5 * MiB, ioReadIops: 500, ioWriteIops: 250, disk: 20 * GiB,
  };
  test('v1: every field', () => {
    assert.deepEqual(toOciResources(all, dev, 1), {
      cpu: { quota: 150000, period: 100000, shares: 2048, cpus: '0-1' },
      memory: { limit: 512 * MiB, swap: 768 * MiB },
      pids: { limit: 100 },
      blockIO: {
        weight: 300,
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 10 * MiB }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 5 * MiB }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 500 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 250 }],
      },
    });
  });
  test('v2: cpu shares that runc turns into the weight; io weight through unified', () => {
    const r = toOciResources(all, dev, 2);
    assert.deepEqual(r.cpu, { quota: 150000, period: 100000, shares: weightToRuncV2Shares(200), cpus: '0-1' });
    assert.equal(runcV2SharesToWeight(r.cpu!.shares!), 200);
    assert.deepEqual(r.memory, { limit: 512 * MiB, swap: 768 * MiB }, 'OCI swap is memory+swap on v2 too; runc subtracts');
    assert.deepEqual(r.unified, { 'io.weight': 'default 300' });
    assert.equal(r.blockIO!.weight, undefined);
    assert.deepEqual(r.blockIO!.throttleReadBpsDevice, [{ major: 8, minor: 0, rate: 10 * MiB }]);
  });
  test('swap: none → memsw = memory; max → -1; unset → left out; without memory → left out', () => {
    assert.deepEqual(toOciResources({ memory: 64 * MiB, swap: 0 }, undefined, 1).memory, { limit: 64 * MiB, swap: 64 * MiB });
    assert.deepEqual(toOciResources({ memory: 64 * MiB, swap: null }, undefined, 1).memory, { limit: 64 * MiB, swap: -1 });
    assert.deepEqual(toOciResources({ memory: 64 * MiB }, undefined, 1).memory, { limit: 64 * MiB });
    assert.deepEqual(toOciResources({ swap: 0 }, undefined, 2), {});
  });
  test('without swap accounting the swap field is left out', () => {
    assert.deepEqual(toOciResources({ memory: 64 * MiB, swap: 0 }, undefined, 1, { swapAccounting: false }).memory, { limit: 64 * MiB });
  });
  test('removed and unset limits are left out; disk is not a cgroup matter', () => {
    assert.deepEqual(toOciResources({ cpus: null, memory: null, pids: null, ioWeight: null, ioReadBps: null, disk: 5 * GiB }, undefined, 1), {});
    assert.deepEqual(toOciResources({}, dev, 2), {});
  });
  test('I/O rates without the data device are refused', () => {
    assert.throws(() => toOciResources({ ioReadBps: MiB }, undefined, 1), (err: unknown) => {
      assert.ok(err instanceof FailedPrecondition);
      assert.match(err.message, /cannot apply --io-read-bps: the block device that holds this container's data is not known/);
      return true;
    });
  });
});

describe('hostCapacity (this host)', () => {
  test('reads CPUs, memory and the cpuset of the root cgroup', () => {
    const h = hostCapacity();
    assert.ok(h.cpus >= 1);
    assert.ok(h.memoryBytes > 64 * MiB);
    assert.ok(h.cpusetAvailable.length >= 1 && h.cpusetAvailable.length <= h.cpus);
    assert.equal(typeof h.swapAccounting, 'boolean');
    // What parseLimits checks against the real host:
    assert.throws(() => parseLimits({ cpus: String(h.cpus + 1) }, h), /this host has \d+ CPUs?/);
    assert.throws(() => parseLimits({ memory: String(h.memoryBytes + 4096) }, h), /of memory; give at most that/);
  });
});
