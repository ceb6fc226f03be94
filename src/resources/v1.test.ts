// The cgroup v1 driver on the REAL kernel of this (hybrid v1/v2) host, as root:
// scratch cgroups `strata-rtest-<random>/c1` under each v1 controller, real
// processes in them, the kernel's own files read back. Every scratch cgroup and
// process is removed in after(), also when a test fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { cgroupConformance, type Observed } from './cgroup.conformance.js';
import { detectCgroupDriver } from './drivers.js';
import { MiB } from '../model/units.js';
import { formatCpuList, parseCpuList, sharesToWeight, type IoDevice } from './limits.js';
import { CgroupV1 } from './v1.js';
import { decodeDev, ioDeviceOf } from './device.js';

const ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'blkio'];
const usable = process.getuid?.() === 0 && CONTROLLERS.every((c) => existsSync(join(ROOT, c, 'cgroup.procs')));
const skip = usable ? false : 'needs root and the v1 controllers cpu, cpuacct, cpuset, memory, pids, blkio at /sys/fs/cgroup';

const UNLIMITED = 2 ** 62;

/** The block device of the file system holding `path` (this host: /dev/vda). */
const deviceOf = (path: string): IoDevice => decodeDev(statSync(path).dev);

/** A scratch cgroup `strata-rtest-<random>/c1` under every controller, and the processes put in it. */
class Scratch {
  readonly top = `strata-rtest-${randomBytes(5).toString('hex')}`;
  readonly path = `${this.top}/c1`;
  private readonly children: ChildProcess[] = [];

  async create(): Promise<void> {
    for (const c of CONTROLLERS) {
      for (const rel of [this.top, this.path]) {
        const dir = join(ROOT, c, rel);
        await fsp.mkdir(dir);
        if (c === 'cpuset') {
          // A new v1 cpuset is empty; it takes no process before it has CPUs and memory nodes.
          const parent = join(dir, '..');
          for (const f of ['cpuset.cpus', 'cpuset.mems']) await fsp.writeFile(join(dir, f), readFileSync(join(parent, f), 'utf8').trim());
        }
      }
    }
  }

  file(controller: string, name: string): string {
    return join(ROOT, controller, this.path, name);
  }

  read(controller: string, name: string): string {
    return readFileSync(this.file(controller, name), 'utf8').trim();
  }

  /** Runs `command` (sh) inside the cgroup: the shell joins every controller, then execs it. Resolves once it is in. */
  async spawn(command: string): Promise<ChildProcess> {
    const files = CONTROLLERS.map((c) => this.file(c, 'cgroup.procs')).join(' ');
    const child = spawn('sh', ['-c', `for f in ${files}; do echo $$ > $f || exit 99; done; exec ${command}`], { stdio: 'ignore' });
    this.children.push(child);
    for (let i = 0; i < 100; i++) {
      const inAll = CONTROLLERS.every((c) => readFileSync(this.file(c, 'cgroup.procs'), 'utf8').split('\n').includes(String(child.pid)));
      if (inAll) return child;
      if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode} before joining the cgroup`);
      await sleep(20);
    }
    throw new Error(`${command} did not join the cgroup`);
  }

  /** Runs `command` (sh) inside the cgroup to its end; status 99 = it could not join. */
  async run(command: string, timeoutMs = 30000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const files = CONTROLLERS.map((c) => this.file(c, 'cgroup.procs')).join(' ');
    const child = spawn('sh', ['-c', `for f in ${files}; do echo $$ > $f || exit 99; done; exec ${command}`], { stdio: 'ignore' });
    this.children.push(child);
    return exited(child, timeoutMs);
  }

  /** Kills every process started here, by pid, and removes the cgroups; never throws. */
  async destroy(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => { child.once('exit', r); setTimeout(r, 2000); });
    }
    for (const c of CONTROLLERS) {
      for (const rel of [this.path, this.top]) {
        const dir = join(ROOT, c, rel);
        for (let i = 0; i < 50 && existsSync(dir); i++) {
          try { await fsp.rmdir(dir); } catch { await sleep(50); }
        }
      }
    }
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} still runs after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
  });
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

// The shared suite, on the real kernel.
{
  const scratch = new Scratch();
  const dev = deviceOf(tmpdir());
  const allCpus = formatCpuList(parseCpuList(readFileSync(join(ROOT, 'cpuset', 'cpuset.cpus'), 'utf8'))!);
  const throttle = (name: string): number | null => {
    const line = scratch.read('blkio', `blkio.throttle.${name}_device`).split('\n').find((l) => l.startsWith(`${dev.major}:${dev.minor} `));
    return line ? Number(line.split(' ')[1]) : null;
  };
  const limit = (n: number): number | null => (n < 0 || n >= UNLIMITED ? null : n);
  if (usable) {
    cgroupConformance('v1 (real kernel)', () => new CgroupV1(ROOT), {
      async setUp() {
        await scratch.create();
        const child = await scratch.spawn('sleep 60');
        return {
          path: scratch.path, pids: [child.pid!], ioDevice: dev, allCpus, oneCpu: String(parseCpuList(allCpus)![0]),
          swapAccounting: existsSync(scratch.file('memory', 'memory.memsw.limit_in_bytes')),
          async observe(): Promise<Observed> {
            const memory = limit(Number(scratch.read('memory', 'memory.limit_in_bytes')));
            const memsw = existsSync(scratch.file('memory', 'memory.memsw.limit_in_bytes')) ? limit(Number(scratch.read('memory', 'memory.memsw.limit_in_bytes'))) : null;
            return {
              cpuQuotaUs: limit(Number(scratch.read('cpu', 'cpu.cfs_quota_us'))),
              cpuPeriodUs: Number(scratch.read('cpu', 'cpu.cfs_period_us')),
              cpuWeight: sharesToWeight(Number(scratch.read('cpu', 'cpu.shares'))),
              cpuset: scratch.read('cpuset', 'cpuset.cpus'),
              memory,
              swap: memory !== null && memsw !== null ? memsw - memory : null,
              pids: limit(scratch.read('pids', 'pids.max') === 'max' ? -1 : Number(scratch.read('pids', 'pids.max'))),
              ioWeight: Number(/\d+/.exec(existsSync(scratch.file('blkio', 'blkio.weight')) ? scratch.read('blkio', 'blkio.weight') : scratch.read('blkio', 'blkio.bfq.weight'))![0]),
              ioReadBps: throttle('read_bps'), ioWriteBps: throttle('write_bps'),
              ioReadIops: throttle('read_iops'), ioWriteIops: throttle('write_iops'),
            };
          },
        };
      },
      tearDown: () => scratch.destroy(),
    });
  } else {
    test('CgroupDriver conformance: v1 (real kernel)', { skip }, () => undefined);
  }
}

describe('cgroup v1 on the real kernel', { skip }, () => {
  const scratch = new Scratch();
  const cg = new CgroupV1(ROOT);
  before(() => scratch.create());
  after(() => scratch.destroy());

  test('the data device is the whole disk under a path; none for file systems without one', async () => {
    const dev = await ioDeviceOf(tmpdir());
    assert.deepEqual(dev, deviceOf(tmpdir()), 'here /tmp is on a whole disk (/dev/vda)');
    assert.equal(existsSync(`/sys/dev/block/${dev!.major}:${dev!.minor}/partition`), false);
    assert.equal(await ioDeviceOf('/proc'), undefined);
    assert.deepEqual(decodeDev(0x10ff02), { major: 0xff, minor: 0x102 }, 'minor numbers above 255 are decoded');
  });

  test('this host is detected as v1 (hybrid: the v2 tree holds no memory controller)', () => {
    assert.equal(detectCgroupDriver().version, 1);
  });

  test("the kernel's own files say what was applied", async () => {
    await cg.apply(scratch.path, { cpus: 1.5, cpuWeight: 200, memory: 64 * MiB, swap: 0, pids: 42 });
    assert.equal(scratch.read('cpu', 'cpu.cfs_quota_us'), '150000');
    assert.equal(scratch.read('cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(scratch.read('cpu', 'cpu.shares'), '2048');
    assert.equal(scratch.read('memory', 'memory.limit_in_bytes'), String(64 * MiB));
    assert.equal(scratch.read('memory', 'memory.memsw.limit_in_bytes'), String(64 * MiB));
    assert.equal(scratch.read('pids', 'pids.max'), '42');
    await cg.apply(scratch.path, { cpus: null, cpuWeight: null, memory: null, swap: null, pids: null });
    assert.equal(scratch.read('cpu', 'cpu.cfs_quota_us'), '-1');
    assert.equal(scratch.read('cpu', 'cpu.shares'), '1024');
    assert.equal(scratch.read('pids', 'pids.max'), 'max');
  });

  test('CPU time, processes and block I/O are counted', async () => {
    const holder = await scratch.spawn('sleep 60');
    assert.equal((await cg.read(scratch.path))?.pids, 1);
    assert.deepEqual(await cg.procs(scratch.path), [holder.pid!]);
    assert.deepEqual(await scratch.run(`sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'`), { code: 0, signal: null });
    const file = join(tmpdir(), `strata-rtest-io-${process.pid}-${randomBytes(3).toString('hex')}`);
    try {
      // O_DIRECT: the writes reach the block device from this cgroup (buffered writeback is not charged on v1).
      assert.deepEqual(await scratch.run(`dd if=/dev/zero of=${file} bs=64k count=32 oflag=direct status=none`), { code: 0, signal: null });
      assert.deepEqual(await scratch.run(`dd if=${file} of=/dev/null bs=64k iflag=direct status=none`), { code: 0, signal: null });
    } finally {
      await fsp.rm(file, { force: true });
    }
    const u = await cg.read(scratch.path);
    assert.ok(u);
    assert.ok(u.cpuUsageNs > 1e6, `CPU time counted: ${u.cpuUsageNs} ns`);
    assert.ok(u.ioWriteBytes >= 2 * MiB, `written bytes counted: ${u.ioWriteBytes}`);
    assert.ok(u.ioWriteOps >= 32, `write operations counted: ${u.ioWriteOps}`);
    assert.ok(u.ioReadBytes >= 2 * MiB, `read bytes counted: ${u.ioReadBytes}`);
    assert.ok(u.ioReadOps >= 32, `read operations counted: ${u.ioReadOps}`);
    assert.equal(u.pids, 1, 'the finished ones are gone');
    assert.ok(u.memoryPeakBytes !== null && u.memoryPeakBytes >= u.memoryBytes);
    assert.equal(u.swapBytes, 0, 'this host has no swap');
  });

  test('memory below what the container uses is refused, and nothing else changed', async () => {
    // ~48 MiB of anonymous memory that cannot be reclaimed (no swap here).
    const hog = await scratch.spawn(`node -e "globalThis.b = Buffer.alloc(48 << 20, 1); setInterval(() => {}, 1000)"`);
    for (let i = 0; i < 200 && ((await cg.read(scratch.path))?.memoryBytes ?? 0) < 48 * MiB; i++) await sleep(25);
    const quota = scratch.read('cpu', 'cpu.cfs_quota_us');
    const limitBefore = scratch.read('memory', 'memory.limit_in_bytes');
    await assert.rejects(cg.apply(scratch.path, { cpus: 0.25, memory: 8 * MiB }), (err: unknown) => {
      assert.ok(err instanceof FailedPrecondition, String(err));
      assert.equal(err.message, 'cannot set memory to 8 MiB for this container: the kernel refused (Device or resource busy): the container uses more; free memory inside or choose a higher limit');
      return true;
    });
    assert.equal(scratch.read('cpu', 'cpu.cfs_quota_us'), quota, 'the CPU cap written before was restored');
    assert.equal(scratch.read('memory', 'memory.limit_in_bytes'), limitBefore);
    assert.ok(alive(hog.pid!), 'the refusal killed nothing');
    process.kill(hog.pid!, 'SIGKILL');
    await exited(hog, 5000);
  });

  test('a cpuset the kernel refuses is an InvalidArgument naming the limit', async () => {
    const before = scratch.read('cpuset', 'cpuset.cpus');
    await assert.rejects(cg.apply(scratch.path, { cpuset: '63' }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgument, String(err));
      assert.match(err.message, /^cannot set cpuset to 63 for this container: the kernel refused \((Invalid argument|Numerical result out of range)\): the CPUs must be online/);
      return true;
    });
    assert.equal(scratch.read('cpuset', 'cpuset.cpus'), before);
  });

  test('a process beyond the memory limit is killed; the cgroup and its other processes live on; the kill is counted', async () => {
    const neighbour = await scratch.spawn('sleep 60');
    await cg.apply(scratch.path, { memory: 32 * MiB, swap: 0 });
    assert.equal((await cg.read(scratch.path))?.memoryLimitBytes, 32 * MiB, 'the limit is in place before the hog starts');
    const before = (await cg.read(scratch.path))!.oomKills;
    // tail reads one endless line from /dev/zero: it grows until the kernel kills it. timeout bounds it anyway.
    const hog = await scratch.spawn('timeout -s KILL 60 tail /dev/zero');
    const end = await exited(hog, 65000);
    assert.ok(end.signal === 'SIGKILL' || end.code === 137, `the hog was killed: ${JSON.stringify(end)}`);
    const u = await cg.read(scratch.path);
    assert.ok(u, 'the cgroup survives');
    assert.ok(u.oomKills >= before + 1, `OOM kills counted: ${u.oomKills}`);
    assert.ok(alive(neighbour.pid!), 'the neighbour lives on');
    assert.ok((await cg.procs(scratch.path)).includes(neighbour.pid!));
  });
});
