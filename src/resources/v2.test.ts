// The cgroup v2 driver against a RECORDED FIXTURE: this machine is a v1/v2
// hybrid whose v2 tree holds only hugetlb, so no v2 cpu/memory/io/pids
// controller can be had here. The fixture is a temp directory laid out like
// /sys/fs/cgroup on a pure v2 host (Linux 6.x), with the files and contents a
// v2 kernel shows for a fresh container cgroup. A plain directory cannot refuse
// a write or merge io.max keys as the kernel does, so this path stays small:
// the shared conformance suite plus what the driver writes and reads, exactly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp, readFileSync, rmSync, writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { FailedPrecondition } from '../errors/index.js';
import { cgroupConformance, type Observed } from './cgroup.conformance.js';
import { detectCgroupDriver } from './drivers.js';
import { MiB } from '../model/units.js';
import { CgroupV2 } from './v2.js';

const PATH = 'strata-ab12cd34ef/web1';
const DEV = { major: 8, minor: 0 };

/** The files of a fresh v2 container cgroup, as the kernel shows them (recorded). */
const CONTAINER_FILES: Record<string, string> = {
  'cgroup.procs': '4242\n4243\n',
  'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
  'cgroup.type': 'domain\n',
  'cpu.max': 'max 100000\n',
  'cpu.weight': '100\n',
  'cpu.stat': 'usage_usec 1523000\nuser_usec 1000000\nsystem_usec 523000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n',
  'cpuset.cpus': '\n',
  'cpuset.cpus.effective': '0-3\n',
  'cpuset.mems': '\n',
  'memory.current': '12582912\n',
  'memory.peak': '20971520\n',
  'memory.max': 'max\n',
  'memory.swap.max': 'max\n',
  'memory.swap.current': '4096\n',
  'memory.events': 'low 0\nhigh 0\nmax 7\noom 3\noom_kill 2\noom_group_kill 0\n',
  'pids.current': '2\n',
  'pids.max': 'max\n',
  'io.stat': '8:0 rbytes=1048576 wbytes=2097152 rios=16 wios=32 dbytes=0 dios=0\n8:16 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
  'io.weight': 'default 100\n',
  'io.max': '',
};

function makeFixture(): string {
  const root = mkdtempSync(join(tmpdir(), 'strata-cgroup2-fixture-'));
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  writeFileSync(join(root, 'cgroup.subtree_control'), 'cpuset cpu io memory pids\n');
  writeFileSync(join(root, 'cpuset.cpus.effective'), '0-3\n');
  const dir = join(root, PATH);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(CONTAINER_FILES)) writeFileSync(join(dir, name), text);
  return root;
}

const text = (root: string, name: string): string => readFileSync(join(root, PATH, name), 'utf8').trim();

function observe(root: string): Observed {
  const [quota, period] = text(root, 'cpu.max').split(' ');
  const io = new Map<string, string>();
  const line = text(root, 'io.max').split('\n').find((l) => l.startsWith(`${DEV.major}:${DEV.minor} `)) ?? '';
  for (const m of line.matchAll(/(\w+)=(\S+)/g)) io.set(m[1], m[2]);
  const lim = (v: string | undefined): number | null => (v === undefined || v === 'max' ? null : Number(v));
  return {
    cpuQuotaUs: lim(quota), cpuPeriodUs: Number(period), cpuWeight: Number(text(root, 'cpu.weight')),
    // An empty cpuset.cpus means the parent's CPUs, which the kernel shows in cpuset.cpus.effective.
    cpuset: text(root, 'cpuset.cpus') || text(root, 'cpuset.cpus.effective'),
    memory: lim(text(root, 'memory.max')), swap: lim(text(root, 'memory.swap.max')), pids: lim(text(root, 'pids.max')),
    ioWeight: Number(/^default (\d+)$/m.exec(text(root, 'io.weight'))![1]),
    ioReadBps: lim(io.get('rbps')), ioWriteBps: lim(io.get('wbps')), ioReadIops: lim(io.get('riops')), ioWriteIops: lim(io.get('wiops')),
  };
}

// The shared suite, on the fixture.
{
  let root = '';
  cgroupConformance('v2 (recorded cgroupfs fixture)', () => new CgroupV2(root), {
    async setUp() {
      root = makeFixture();
      return {
        path: PATH, pids: [4242, 4243], ioDevice: DEV, allCpus: '0-3', oneCpu: '2', swapAccounting: true,
        observe: async () => observe(root),
      };
    },
    tearDown: async () => { if (root) rmSync(root, { recursive: true, force: true }); },
  });
}

describe('cgroup v2 driver on the recorded fixture: exact files', () => {
  let root: string;
  let cg: CgroupV2;
  before(() => { root = makeFixture(); cg = new CgroupV2(root); });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('detection: v2 where cgroup.controllers lists memory; v1 on this hybrid host and without it', () => {
    assert.equal(detectCgroupDriver(root).version, 2);
    const hybrid = mkdtempSync(join(tmpdir(), 'strata-cgroup-hybrid-'));
    try {
      writeFileSync(join(hybrid, 'cgroup.controllers'), 'hugetlb\n');
      assert.equal(detectCgroupDriver(hybrid).version, 1);
      unlinkSync(join(hybrid, 'cgroup.controllers'));
      assert.equal(detectCgroupDriver(hybrid).version, 1);
    } finally {
      rmSync(hybrid, { recursive: true, force: true });
    }
  });

  test('reads the recorded usage', async () => {
    assert.deepEqual(await cg.read(PATH), {
      cpuUsageNs: 1523000 * 1000, memoryBytes: 12582912, memoryLimitBytes: null, memoryPeakBytes: 20971520, swapBytes: 4096,
      pids: 2, pidsLimit: null, ioReadBytes: 1048576 + 4096, ioWriteBytes: 2097152, ioReadOps: 17, ioWriteOps: 32, oomKills: 2,
    });
  });

  test('memory.peak is absent before Linux 5.19: the peak is null', async () => {
    await fsp.rename(join(root, PATH, 'memory.peak'), join(root, PATH, 'memory.peak.aside'));
    try {
      assert.equal((await cg.read(PATH))?.memoryPeakBytes, null);
    } finally {
      await fsp.rename(join(root, PATH, 'memory.peak.aside'), join(root, PATH, 'memory.peak'));
    }
  });

  test('writes the files in the kernel syntax', async () => {
    await cg.apply(PATH, { cpus: 1.5, cpuWeight: 250, cpuset: '0-1,3', memory: 256 * MiB, swap: 0, pids: 99, ioWeight: 300, ioReadBps: 10 * MiB, ioWriteIops: 500 }, DEV);
    assert.equal(text(root, 'cpu.max'), '150000 100000');
    assert.equal(text(root, 'cpu.weight'), '250');
    assert.equal(text(root, 'cpuset.cpus'), '0-1,3');
    assert.equal(text(root, 'memory.max'), String(256 * MiB));
    assert.equal(text(root, 'memory.swap.max'), '0');
    assert.equal(text(root, 'pids.max'), '99');
    assert.equal(text(root, 'io.weight'), 'default 300');
    assert.equal(text(root, 'io.max'), `8:0 rbps=${10 * MiB} wbps=max riops=max wiops=500`);
    await cg.apply(PATH, { cpus: null, memory: null, swap: null, pids: null, ioReadBps: null, cpuset: null }, DEV);
    assert.equal(text(root, 'cpu.max'), 'max 100000');
    assert.equal(text(root, 'memory.max'), 'max');
    assert.equal(text(root, 'memory.swap.max'), 'max');
    assert.equal(text(root, 'pids.max'), 'max');
    assert.equal(text(root, 'cpuset.cpus'), '');
    assert.equal(text(root, 'io.max'), '8:0 rbps=max wbps=max riops=max wiops=500');
  });

  test('with the bfq scheduler, io.bfq.weight is written too', async () => {
    writeFileSync(join(root, PATH, 'io.bfq.weight'), 'default 100\n');
    await cg.apply(PATH, { ioWeight: 700 });
    assert.equal(text(root, 'io.bfq.weight'), 'default 700');
    assert.equal(text(root, 'io.weight'), 'default 700');
    unlinkSync(join(root, PATH, 'io.bfq.weight'));
  });

  test('a missing controller file fails that limit and restores what was written before it', async () => {
    const before = text(root, 'cpu.weight');
    await fsp.rename(join(root, PATH, 'pids.max'), join(root, PATH, 'pids.max.aside'));
    try {
      await assert.rejects(cg.apply(PATH, { cpuWeight: 999, pids: 5 }), /cannot set pids to 5 for this container: this kernel has no .*pids\.max: the cgroup controller for it is missing/);
      assert.equal(text(root, 'cpu.weight'), before);
    } finally {
      await fsp.rename(join(root, PATH, 'pids.max.aside'), join(root, PATH, 'pids.max'));
    }
  });

  test('without swap accounting (no memory.swap.max) only no-swap is accepted', async () => {
    await fsp.rename(join(root, PATH, 'memory.swap.max'), join(root, PATH, 'memory.swap.max.aside'));
    try {
      await assert.rejects(cg.apply(PATH, { swap: 64 * MiB }), (err: unknown) => {
        assert.ok(err instanceof FailedPrecondition);
        assert.match(err.message, /this host has no swap accounting .*give --swap none \(or 0\)/);
        return true;
      });
      await cg.apply(PATH, { memory: 64 * MiB, swap: 0 });
      assert.equal(text(root, 'memory.max'), String(64 * MiB));
    } finally {
      await fsp.rename(join(root, PATH, 'memory.swap.max.aside'), join(root, PATH, 'memory.swap.max'));
    }
  });
});

test('a group (a tenant\'s) is made level by level, each parent handing cpu, memory and pids down, and takes ceilings', async () => {
  const root = makeFixture();
  try {
    const cg = new CgroupV2(root);
    await cg.makeGroup('/strata-t/tenant.acme');
    assert.equal(readFileSync(join(root, 'strata-t', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids');
    // The kernel gives a new cgroup its files; on the fixture, this test does.
    for (const f of ['cpu.max', 'memory.max', 'pids.max']) writeFileSync(join(root, 'strata-t', 'tenant.acme', f), 'max\n');
    await cg.apply('/strata-t/tenant.acme', { memory: 64 * 1048576, pids: 100, cpus: 2 });
    assert.equal(readFileSync(join(root, 'strata-t', 'tenant.acme', 'memory.max'), 'utf8').trim(), String(64 * 1048576));
    assert.equal(readFileSync(join(root, 'strata-t', 'tenant.acme', 'pids.max'), 'utf8').trim(), '100');
    assert.equal(readFileSync(join(root, 'strata-t', 'tenant.acme', 'cpu.max'), 'utf8').trim(), '200000 100000');
    await cg.makeGroup('/strata-t/tenant.acme');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
