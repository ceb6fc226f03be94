/**
 * The one conformance suite of the CgroupDriver interface, run by every
 * driver's test (v1.test.ts on the real kernel, v2.test.ts on a recorded v2
 * cgroupfs tree). Not a test file itself. Each caller supplies a cgroup with
 * processes in it and a way to see the limits as the kernel files hold them,
 * normalized to the driver-neutral `Observed`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FailedPrecondition } from '../errors/index.js';
import type { CgroupDriver } from './cgroup.js';
import { MiB } from '../model/units.js';
import type { IoDevice, Limits } from './limits.js';

/** The limits of the cgroup as its files say, in Strata's units. */
export interface Observed {
  cpuQuotaUs: number | null;
  cpuPeriodUs: number;
  cpuWeight: number;
  cpuset: string;
  memory: number | null;
  /** Swap beyond memory; null when unlimited. */
  swap: number | null;
  pids: number | null;
  ioWeight: number;
  ioReadBps: number | null;
  ioWriteBps: number | null;
  ioReadIops: number | null;
  ioWriteIops: number | null;
}

interface ConformanceEnv {
  /** The container cgroup, relative to the root; it exists and holds `pids`. */
  path: string;
  pids: number[];
  ioDevice: IoDevice;
  /** CPU numbers the cgroup may use, as a list string for the parent (e.g. `0-1`). */
  allCpus: string;
  /** One CPU of them, for a narrowing cpuset. */
  oneCpu: string;
  swapAccounting: boolean;
  observe(): Promise<Observed>;
}

export interface ConformanceSetup {
  setUp(): Promise<ConformanceEnv>;
  tearDown(): Promise<void>;
}

export function cgroupConformance(name: string, makeDriver: () => CgroupDriver, setup: ConformanceSetup): void {
  describe(`CgroupDriver conformance: ${name}`, () => {
    let env: ConformanceEnv;
    let cg: CgroupDriver;

    before(async () => {
      env = await setup.setUp();
      cg = makeDriver();
    });
    after(() => setup.tearDown());

    test('a cgroup that does not exist reads as null, has no processes and refuses limits', async () => {
      const missing = `${env.path}-missing-${process.pid}`;
      assert.equal(await cg.read(missing), null);
      assert.deepEqual(await cg.procs(missing), []);
      await assert.rejects(cg.apply(missing, { pids: 5 }), (err: unknown) => {
        assert.ok(err instanceof FailedPrecondition);
        assert.match(err.message, /does not exist .*not running/);
        return true;
      });
    });

    test('procs lists the processes in the cgroup', async () => {
      assert.deepEqual(await cg.procs(env.path), [...env.pids].sort((a, b) => a - b));
    });

    test('usage: counters are numbers, a fresh cgroup is unlimited', async () => {
      const u = await cg.read(env.path);
      assert.ok(u);
      assert.equal(u.pids, env.pids.length);
      assert.equal(u.memoryLimitBytes, null);
      assert.equal(u.pidsLimit, null);
      for (const k of ['cpuUsageNs', 'memoryBytes', 'ioReadBytes', 'ioWriteBytes', 'ioReadOps', 'ioWriteOps', 'oomKills'] as const) {
        assert.ok(Number.isFinite(u[k]) && u[k] >= 0, `${k} is a count: ${u[k]}`);
      }
      assert.ok(u.memoryPeakBytes === null || u.memoryPeakBytes >= 0);
    });

    test('apply sets every limit at once; read shows the memory and pids limits', async () => {
      await cg.apply(env.path, {
        cpus: 0.5, cpuWeight: 200, cpuset: env.oneCpu, memory: 64 * MiB, pids: 50, ioWeight: 300,
        ioReadBps: 10 * MiB, ioWriteBps: 5 * MiB, ioReadIops: 500, ioWriteIops: 250, disk: 1 << 30,
      }, env.ioDevice);
      const o = await env.observe();
      assert.deepEqual({ ...o, swap: undefined }, {
        cpuQuotaUs: 50000, cpuPeriodUs: 100000, cpuWeight: 200, cpuset: env.oneCpu, memory: 64 * MiB, swap: undefined, pids: 50,
        ioWeight: 300, ioReadBps: 10 * MiB, ioWriteBps: 5 * MiB, ioReadIops: 500, ioWriteIops: 250,
      });
      const u = await cg.read(env.path);
      assert.equal(u?.memoryLimitBytes, 64 * MiB);
      assert.equal(u?.pidsLimit, 50);
    });

    test('each limit changes live on its own; the others stay', async () => {
      const steps: Array<[Limits, Partial<Observed>]> = [
        [{ cpus: 1.25 }, { cpuQuotaUs: 125000, cpuPeriodUs: 100000 }],
        [{ cpuWeight: 50 }, { cpuWeight: 50 }],
        [{ cpuset: env.allCpus }, { cpuset: env.allCpus }],
        [{ memory: 96 * MiB }, { memory: 96 * MiB }],
        [{ pids: 80 }, { pids: 80 }],
        [{ ioWeight: 500 }, { ioWeight: 500 }],
        [{ ioReadBps: 20 * MiB }, { ioReadBps: 20 * MiB }],
        [{ ioWriteBps: MiB }, { ioWriteBps: MiB }],
        [{ ioReadIops: 100 }, { ioReadIops: 100 }],
        [{ ioWriteIops: 1000 }, { ioWriteIops: 1000 }],
      ];
      for (const [change, expect] of steps) {
        const before = await env.observe();
        await cg.apply(env.path, change, env.ioDevice);
        assert.deepEqual(await env.observe(), { ...before, ...expect }, `after ${JSON.stringify(change)}`);
      }
    });

    test('undefined leaves every limit alone', async () => {
      const before = await env.observe();
      await cg.apply(env.path, {}, env.ioDevice);
      await cg.apply(env.path, { cpus: undefined, memory: undefined, ioReadBps: undefined });
      assert.deepEqual(await env.observe(), before);
    });

    test('I/O rates need the data device: refused before anything is written', async () => {
      const before = await env.observe();
      await assert.rejects(cg.apply(env.path, { pids: 7, ioWriteIops: 10 }), (err: unknown) => {
        assert.ok(err instanceof FailedPrecondition);
        assert.match(err.message, /--io-write-iops: the block device that holds this container's data is not known/);
        return true;
      });
      assert.deepEqual(await env.observe(), before);
    });

    test('swap: none, a size, kept across memory changes, unlimited', async (t) => {
      if (!env.swapAccounting) return t.skip('no swap accounting on this host');
      await cg.apply(env.path, { memory: 64 * MiB, swap: 0 });
      assert.deepEqual(await pick(env, 'memory', 'swap'), { memory: 64 * MiB, swap: 0 });
      await cg.apply(env.path, { swap: 32 * MiB });
      assert.deepEqual(await pick(env, 'memory', 'swap'), { memory: 64 * MiB, swap: 32 * MiB });
      await cg.apply(env.path, { memory: 128 * MiB });
      assert.deepEqual(await pick(env, 'memory', 'swap'), { memory: 128 * MiB, swap: 32 * MiB }, 'raising memory keeps the swap');
      await cg.apply(env.path, { memory: 48 * MiB });
      assert.deepEqual(await pick(env, 'memory', 'swap'), { memory: 48 * MiB, swap: 32 * MiB }, 'lowering memory keeps the swap');
      await cg.apply(env.path, { memory: 64 * MiB, swap: 16 * MiB });
      assert.deepEqual(await pick(env, 'memory', 'swap'), { memory: 64 * MiB, swap: 16 * MiB });
      await cg.apply(env.path, { swap: null });
      assert.deepEqual(await pick(env, 'memory', 'swap'), { memory: 64 * MiB, swap: null });
    });

    test('null removes every limit: unlimited, default shares, all CPUs', async () => {
      await cg.apply(env.path, {
        cpus: null, cpuWeight: null, cpuset: null, memory: null, swap: null, pids: null, ioWeight: null,
        ioReadBps: null, ioWriteBps: null, ioReadIops: null, ioWriteIops: null, disk: null,
      }, env.ioDevice);
      const o = await env.observe();
      assert.deepEqual(o, {
        cpuQuotaUs: null, cpuPeriodUs: 100000, cpuWeight: 100, cpuset: env.allCpus, memory: null, swap: null, pids: null,
        ioWeight: 100, ioReadBps: null, ioWriteBps: null, ioReadIops: null, ioWriteIops: null,
      });
      const u = await cg.read(env.path);
      assert.equal(u?.memoryLimitBytes, null);
      assert.equal(u?.pidsLimit, null);
    });
  });
}

async function pick(env: ConformanceEnv, ...keys: Array<keyof Observed>): Promise<Partial<Observed>> {
  const o = await env.observe();
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
