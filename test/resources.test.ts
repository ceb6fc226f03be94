// Integration: limits, live changes, the container's own /proc view, and accounting,
// on real containers and the real (cgroup v1) kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, useDaemon } from './harness.js';

interface Stats { cpuSeconds: number; cpuPercent: number | null; memoryBytes: number | null; memoryLimitBytes: number | null; pids: number | null; ioWriteBytes: number; diskUsedBytes: number | null; diskLimitBytes: number | null; oomKills: number; state: string }
const MiB = 1 << 20;
const CAP_SYS_RESOURCE = 24;
function hasCapability(bit: number): boolean {
  const eff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  return ((eff >> BigInt(bit)) & 1n) === 1n;
}

describe('resources', () => {
  const d = useDaemon({ template: 'bb' });
  const cg = (controller: string, name: string, file: string): string =>
    readFileSync(join('/sys/fs/cgroup', controller, d.paths.cgroupParent, name, file), 'utf8').trim();

  test('limits given at create reach the kernel', async () => {
    await d.ok('create', 'lim', '--template', 'bb', '--cpus', '0.5', '--cpu-weight', '200', '--cpuset', '0', '--memory', '64M', '--pids', '50', '--io-weight', '300', '--io-read-bps', '10M');
    await d.ok('start', 'lim');
    assert.equal(cg('cpu', 'lim', 'cpu.cfs_quota_us'), '50000');
    assert.equal(cg('cpu', 'lim', 'cpu.cfs_period_us'), '100000');
    assert.equal(cg('cpuset', 'lim', 'cpuset.cpus'), '0');
    assert.equal(cg('memory', 'lim', 'memory.limit_in_bytes'), String(64 * MiB));
    assert.equal(cg('pids', 'lim', 'pids.max'), '50');
    assert.match(cg('blkio', 'lim', 'blkio.throttle.read_bps_device'), new RegExp(`^\\d+:\\d+ ${10 * MiB}$`));
    const shares = Number(cg('cpu', 'lim', 'cpu.shares'));
    assert.ok(shares > 1024, `weight 200 gives more than the default shares, got ${shares}`);
  });

  test('the container sees its own limits in /proc (lxcfs) and its own uptime', async () => {
    const meminfo = await d.ok('exec', 'lim', '--', 'cat', '/proc/meminfo');
    const total = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)![1]) * 1024;
    assert.equal(total, 64 * MiB);
    // busybox's free and uptime ask sysinfo(2), which lxcfs cannot reach; procps reads /proc, as on a Debian container.
    await d.ok('template', 'build', 'hosty', '--from', 'host');
    await d.ok('create', 'procps', '--template', 'hosty', '--memory', '64M', '--cpuset', '0');
    await d.ok('start', 'procps');
    const free = await d.ok('exec', 'procps', '--', 'free', '-m');
    assert.match(free, /Mem:\s+64\s/);
    assert.match(await d.ok('exec', 'procps', '--', 'uptime'), /up\s+(0 min|\d+ sec|\d+ min)/);
    assert.match(await d.ok('exec', 'procps', '--', 'top', '-bn1'), /MiB Mem :\s+64\.0 total/);
    assert.equal((await d.ok('exec', 'procps', '--', 'nproc')).trim(), '1');
    const df = await d.ok('exec', 'procps', '--', 'df', '-h', '/');
    assert.match(df, /overlay/);
    await d.ok('destroy', 'procps', '--force');
    const cpus = (await d.ok('exec', 'lim', '--', 'grep', '-c', '^processor', '/proc/cpuinfo')).trim();
    assert.equal(cpus, '1');
    const uptime = Number((await d.ok('exec', 'lim', '--', 'cat', '/proc/uptime')).split(' ')[0]);
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    assert.ok(uptime < 120 && uptime < hostUptime, `uptime ${uptime} is the container's own`);
    const stat = await d.ok('exec', 'lim', '--', 'grep', '-c', '^cpu[0-9]', '/proc/stat');
    assert.equal(stat.trim(), '1');
    assert.ok((await d.ok('exec', 'lim', '--', 'cat', '/proc/loadavg')).trim().split(' ').length >= 3);
    assert.match(await d.ok('exec', 'lim', '--', 'cat', '/proc/diskstats'), /\d/);
  });

  test('containers keep their /proc view when lxcfs dies: the daemon restarts it and re-binds', async () => {
    const pidFile = join(d.paths.run, 'lxcfs.pid');
    const old = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(old, 'SIGKILL');
    let meminfo = '';
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      const r = await d.cli('exec', 'lim', '--', 'cat', '/proc/meminfo');
      if (r.status === 0 && /MemTotal:\s+65536 kB/.test(r.stdout)) { meminfo = r.stdout; break; }
    }
    assert.match(meminfo, /MemTotal:\s+65536 kB/, 'the container reads its own meminfo again');
    assert.notEqual(Number(readFileSync(pidFile, 'utf8').trim()), old, 'a new lxcfs serves');
    const events = await d.json<Array<{ kind: string }>>('events');
    assert.ok(events.some((e) => e.kind === 'lxcfs-restarted'));
    assert.equal((await d.json<{ state: string }>('inspect', 'lim')).state, 'running');
  });

  test('strata set changes every limit live and the kernel shows it', async () => {
    await d.ok('set', 'lim', '--cpus', '1', '--memory', '96M', '--pids', '80', '--cpuset', '0-1', '--io-write-bps', '5M', '--io-read-iops', '500');
    assert.equal(cg('cpu', 'lim', 'cpu.cfs_quota_us'), '100000');
    assert.equal(cg('memory', 'lim', 'memory.limit_in_bytes'), String(96 * MiB));
    assert.equal(cg('pids', 'lim', 'pids.max'), '80');
    assert.equal(cg('cpuset', 'lim', 'cpuset.cpus'), '0-1');
    assert.match(cg('blkio', 'lim', 'blkio.throttle.write_bps_device'), new RegExp(` ${5 * MiB}$`));
    assert.match(cg('blkio', 'lim', 'blkio.throttle.read_iops_device'), / 500$/);
    const meminfo = await d.ok('exec', 'lim', '--', 'cat', '/proc/meminfo');
    assert.equal(Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)![1]) * 1024, 96 * MiB, 'lxcfs follows the live change');
    await d.ok('set', 'lim', '--memory', 'none', '--pids', 'none');
    assert.equal(cg('pids', 'lim', 'pids.max'), 'max');
    assert.ok(Number(cg('memory', 'lim', 'memory.limit_in_bytes')) > 2 ** 40);
    const v = await d.json<{ limits: Record<string, unknown> }>('inspect', 'lim');
    assert.equal(v.limits.memory, undefined);
    assert.equal(v.limits.cpus, 1);
  });

  test('a memory hog is killed at the limit; the container and its init live on; the kill is recorded', async () => {
    await d.ok('create', 'hog', '--template', 'bb', '--memory', '32M', '--swap', 'none');
    await d.ok('start', 'hog');
    const init = (await d.json<{ pid: number }>('inspect', 'hog')).pid;
    // busybox has no allocator tool; a growing shell variable does the job.
    const r = await d.cli('exec', 'hog', '--', 'sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x="$x$x"; done');
    assert.notEqual(r.status, 0, 'the hog was killed');
    const v = await d.json<{ state: string; pid: number }>('inspect', 'hog');
    assert.equal(v.state, 'running');
    assert.equal(v.pid, init, 'the init survived');
    assert.equal((await d.ok('exec', 'hog', '--', 'echo', 'alive')).trim(), 'alive');
    const s = await d.json<Stats>('stats', 'hog');
    assert.ok(s.oomKills >= 1, `oomKills ${s.oomKills}`);
    for (let i = 0; i < 30; i++) {
      const events = await d.json<Array<{ kind: string; subject: string }>>('events');
      if (events.some((e) => e.kind === 'oom-kill' && e.subject === 'hog')) return;
      await sleep(500);
    }
    assert.fail('no oom-kill event was recorded');
  });

  test('a fork bomb stops at --pids; the host and the neighbours stay responsive', async () => {
    await d.ok('create', 'bomb', '--template', 'bb', '--pids', '30');
    await d.ok('start', 'bomb');
    await d.cli('exec', 'bomb', '--', 'sh', '-c', 'for i in $(seq 1 100); do sleep 30 & done; wait');
    const s = await d.json<Stats>('stats', 'bomb');
    assert.ok(s.pids !== null && s.pids <= 30, `pids ${s.pids}`);
    assert.equal(cg('pids', 'bomb', 'pids.current'), String(s.pids));
    assert.equal((await d.ok('exec', 'lim', '--', 'echo', 'neighbour-ok')).trim(), 'neighbour-ok');
    await d.ok('destroy', 'bomb', '--force');
  });

  test('a CPU hog is held near its --cpus cap', async () => {
    await d.ok('create', 'spin', '--template', 'bb', '--cpus', '0.5');
    await d.ok('start', 'spin');
    void d.cli('exec', 'spin', '--', 'sh', '-c', 'timeout 6 sh -c "while :; do :; done"; true');
    await sleep(1000);
    const a = await d.json<Stats>('stats', 'spin');
    await sleep(3000);
    const b = await d.json<Stats>('stats', 'spin');
    const used = (b.cpuSeconds - a.cpuSeconds) / 3;
    assert.ok(used > 0.3 && used < 0.7, `used ${used.toFixed(2)} CPUs under a 0.5 cap`);
    assert.ok(b.cpuPercent !== null && b.cpuPercent < 75, `cpu% ${b.cpuPercent}`);
    await d.ok('destroy', 'spin', '--force');
  });

  test('disk: a filler hits --disk with "no space"; a sibling can still write; df shows the limit; grows live; shrinking below use is refused', async () => {
    await d.ok('create', 'full', '--template', 'bb', '--disk', '64M');
    await d.ok('create', 'sib', '--template', 'bb', '--disk', '64M');
    await d.ok('start', 'full');
    await d.ok('start', 'sib');
    const df = await d.ok('exec', 'full', '--', 'df', '-m', '/');
    const size = Number(df.trim().split('\n')[1].trim().split(/\s+/)[1]);
    assert.ok(size > 40 && size <= 64, `df / shows ${size} MiB`);
    const r = await d.cli('exec', 'full', '--', 'dd', 'if=/dev/zero', 'of=/fill', 'bs=1M', 'count=200');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /No space left on device|Disk quota exceeded/);
    assert.equal((await d.ok('exec', 'sib', '--', 'sh', '-c', 'dd if=/dev/zero of=/data bs=1M count=10 2>/dev/null && echo wrote')).trim(), 'wrote');
    const s = await d.json<Stats>('stats', 'full');
    assert.ok(s.diskUsedBytes! > 40 * MiB && s.diskLimitBytes! <= 64 * MiB);
    const shrink = await d.cli('set', 'full', '--disk', '20M');
    assert.equal(shrink.status, 6);
    assert.match(shrink.stderr, /cannot shrink the disk of full to 20 MiB: it holds/);
    const dfSize = async (): Promise<number> => Number((await d.ok('exec', 'full', '--', 'df', '-m', '/')).trim().split('\n')[1].trim().split(/\s+/)[1]);
    const live = await d.cli('set', 'full', '--disk', '128M');
    if (hasCapability(CAP_SYS_RESOURCE)) {
      assert.equal(live.status, 0, live.stderr);
      assert.ok((await dfSize()) > 100, 'grown live');
    } else {
      // This sandbox withholds CAP_SYS_RESOURCE, without which ext4 refuses to grow while mounted: say so, change nothing.
      assert.equal(live.status, 6, live.stderr);
      assert.match(live.stderr, /cannot grow the disk of full while it is mounted: .*CAP_SYS_RESOURCE.*stop the container/);
      assert.ok((await dfSize()) <= 64);
      await d.ok('stop', 'full', '--timeout', '0');
      await d.ok('set', 'full', '--disk', '128M');
      await d.ok('start', 'full');
      assert.ok((await dfSize()) > 100, 'grown while stopped');
    }
    assert.equal((await d.ok('exec', 'full', '--', 'sh', '-c', 'dd if=/dev/zero of=/more bs=1M count=20 2>/dev/null && echo more')).trim(), 'more');
    // Shrinking above what is used works while stopped, and keeps the data.
    await d.ok('exec', 'full', '--', 'rm', '/fill', '/more');
    await d.ok('stop', 'full', '--timeout', '0');
    await d.ok('set', 'full', '--disk', '48M');
    await d.ok('start', 'full');
    assert.ok((await dfSize()) <= 48);
    assert.equal((await d.ok('exec', 'full', '--', 'cat', '/etc/hostname')).trim(), 'full');
    const pool = await d.json<{ driver: string; volumes: number; provisionedBytes: number }>('pool');
    assert.equal(pool.driver, 'loop-ext4');
    assert.equal(pool.volumes, 2);
    await d.ok('destroy', 'full', '--force');
    await d.ok('destroy', 'sib', '--force');
    assert.deepEqual(readdirSync(d.paths.pool), []);
  });

  test('stats counters grow and survive a restart of the container and of the daemon', async () => {
    await d.ok('create', 'acct', '--template', 'bb', '--disk', '64M');
    await d.ok('start', 'acct');
    await d.ok('exec', 'acct', '--', 'sh', '-c', 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/w bs=1M count=8 oflag=direct 2>/dev/null');
    const a = await d.json<Stats>('stats', 'acct');
    assert.ok(a.cpuSeconds > 0.01, `cpu ${a.cpuSeconds}`);
    await d.ok('restart', 'acct');
    const b = await d.json<Stats>('stats', 'acct');
    assert.ok(b.cpuSeconds >= a.cpuSeconds, 'cpu time did not go backwards across a restart');
    assert.ok(b.ioWriteBytes >= a.ioWriteBytes);
    await d.stop();
    await d.start();
    await d.ok('exec', 'acct', '--', 'sh', '-c', 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done');
    const c = await d.json<Stats>('stats', 'acct');
    assert.ok(c.cpuSeconds > b.cpuSeconds, `cpu grew: ${b.cpuSeconds} → ${c.cpuSeconds}`);
    assert.ok(c.ioWriteBytes >= b.ioWriteBytes);
    const all = await d.json<Stats[]>('stats');
    assert.ok(all.length >= 2);
    const top = await d.ok('top', '--once', '--sort', 'mem');
    assert.match(top, /NAME\s+STATE\s+CPU\s+MEMORY/);
    assert.match(top, /acct\s+running/);
  });

  test('strata ps shows host processes with their container, pid inside and user', async () => {
    void d.cli('exec', 'acct', '--user', 'nobody', '--', 'sleep', '5');
    await sleep(700);
    const list = await d.json<Array<{ container: string; pid: number; cpid: number; user: string; command: string }>>('ps', 'acct');
    const init = list.find((p) => p.cpid === 1);
    assert.ok(init && init.container === 'acct' && init.user === 'root');
    const sleeper = list.find((p) => p.command === 'sleep 5');
    assert.ok(sleeper, JSON.stringify(list));
    assert.equal(sleeper.user, 'nobody');
    assert.ok(sleeper.pid > 1 && existsSync(`/proc/${sleeper.pid}`));
    assert.match(await d.ok('ps'), /CONTAINER\s+PID\s+CPID\s+USER\s+COMMAND/);
  });

  test('bad sizes and counts are refused with one clear line, nothing changed', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['create', 'bad', '--template', 'bb', '--memory', 'lots'], /memory/i],
      [['create', 'bad', '--template', 'bb', '--memory', '-5M'], /memory/i],
      [['create', 'bad', '--template', 'bb', '--cpus', '0'], /cpus/i],
      [['create', 'bad', '--template', 'bb', '--cpus', '999'], /cpus/i],
      [['create', 'bad', '--template', 'bb', '--memory', '900T'], /memory/i],
      [['create', 'bad', '--template', 'bb', '--pids', '0'], /pids/i],
      [['create', 'bad', '--template', 'bb', '--cpuset', '0-99'], /cpuset/i],
      [['create', 'bad', '--template', 'bb', '--disk', '1K'], /disk/i],
      [['create', 'bad', '--template', 'bb', '--disk', '900T'], /disk/i],
      [['create', 'bad', '--template', 'bb', '--io-weight', '5000'], /io/i],
      [['set', 'lim', '--memory', 'x1'], /memory/i],
      [['set', 'lim'], /nothing to change/],
      [['set', 'ghost', '--memory', '64M'], /container ghost does not exist/],
    ];
    for (const [args, message] of cases) {
      const before = await d.ok('list', '--json');
      const r = await d.cli(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(await d.ok('list', '--json'), before);
    }
    assert.equal(cg('memory', 'lim', 'memory.limit_in_bytes').length > 0, true);
    assert.deepEqual(readdirSync(d.paths.pool).filter((f) => f.startsWith('bad')), []);
  });
});
