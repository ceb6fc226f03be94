import type { Command } from 'commander';
import type { ContainerStats } from '../../api/client.js';
import { InvalidArgument } from '../../errors/index.js';
import { clientOf, humanBytes, printFields, printJson, printTable, verb } from '../context.js';

/** The limit flags of `create` and `set`: CLI flag → API key. */
const LIMIT_FLAGS: Array<[flag: string, key: string, help: string]> = [
  ['--cpus <n>', 'cpus', 'CPU hard cap, fractional (e.g. 1.5)'],
  ['--cpu-weight <w>', 'cpuWeight', 'relative CPU share, 1-10000 (default 100)'],
  ['--cpuset <list>', 'cpuset', 'CPUs it may use (e.g. 0-1,3)'],
  ['--memory <size>', 'memory', 'memory limit (K/M/G/T), or none'],
  ['--swap <size>', 'swap', 'swap beyond memory, or none'],
  ['--pids <n>', 'pids', 'most processes at once'],
  ['--io-weight <w>', 'ioWeight', 'relative disk I/O share, 10-1000'],
  ['--io-read-bps <size>', 'ioReadBps', 'read bytes per second on its data device'],
  ['--io-write-bps <size>', 'ioWriteBps', 'written bytes per second on its data device'],
  ['--io-read-iops <n>', 'ioReadIops', 'read operations per second'],
  ['--io-write-iops <n>', 'ioWriteIops', 'write operations per second'],
  ['--disk <size>', 'disk', 'hard limit of its private area (K/M/G/T)'],
];

export function withLimitOptions(cmd: Command): Command {
  for (const [flag, , help] of LIMIT_FLAGS) cmd.option(flag, help);
  return cmd;
}

export function limitsOf(opts: Record<string, unknown>): Record<string, string> {
  const limits: Record<string, string> = {};
  for (const [, key] of LIMIT_FLAGS) if (typeof opts[key] === 'string') limits[key] = opts[key] as string;
  return limits;
}

const pct = (n: number | null): string => (n === null ? '-' : `${n.toFixed(1)}%`);
const bytes = (n: number | null): string => (n === null ? '-' : humanBytes(n));
const of = (used: number | null, limit: number | null): string => (used === null ? '-' : limit ? `${bytes(used)} / ${bytes(limit)}` : bytes(used));

const SORTS: Record<string, (a: ContainerStats, b: ContainerStats) => number> = {
  cpu: (a, b) => (b.cpuPercent ?? -1) - (a.cpuPercent ?? -1),
  mem: (a, b) => (b.memoryBytes ?? -1) - (a.memoryBytes ?? -1),
  pids: (a, b) => (b.pids ?? -1) - (a.pids ?? -1),
  disk: (a, b) => (b.diskUsedBytes ?? -1) - (a.diskUsedBytes ?? -1),
  io: (a, b) => b.ioReadBytes + b.ioWriteBytes - (a.ioReadBytes + a.ioWriteBytes),
  name: (a, b) => a.name.localeCompare(b.name),
};
const SORT_KEYS: Record<string, string> = { c: 'cpu', m: 'mem', p: 'pids', d: 'disk', i: 'io', n: 'name' };

function statsRows(list: ContainerStats[]): Array<Array<string | number>> {
  return list.map((s) => [s.name, s.state, pct(s.cpuPercent), of(s.memoryBytes, s.memoryLimitBytes), s.pids ?? '-',
    of(s.diskUsedBytes, s.diskLimitBytes), `${bytes(s.ioReadBytes)} / ${bytes(s.ioWriteBytes)}`, `${bytes(s.netRxBytes)} / ${bytes(s.netTxBytes)}`, s.oomKills]);
}
const STATS_HEADERS = ['NAME', 'STATE', 'CPU', 'MEMORY', 'PIDS', 'DISK', 'IO READ / WRITE', 'NET IN / OUT', 'OOM'];

export function register(program: Command): void {
  withLimitOptions(verb(program, 'set', 'change limits; on a running container live, without a restart'))
    .option('--net-in <rate>', 'what the container may receive, e.g. 10mbit, or none')
    .option('--net-out <rate>', 'what the container may send, e.g. 10mbit, or none')
    .argument('<name>')
    .action(async (name: string, opts: Record<string, unknown>, cmd: Command) => {
      const limits: Record<string, string> = limitsOf(opts);
      if (typeof opts.netIn === 'string') limits.netIn = opts.netIn;
      if (typeof opts.netOut === 'string') limits.netOut = opts.netOut;
      if (!Object.keys(limits).length) throw new InvalidArgument('nothing to change: give at least one limit, e.g. --memory 512M or --cpus 1 (see strata set --help)');
      await clientOf(cmd).containers.setLimits(name, limits);
      process.stdout.write(`container ${name}: ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    });

  verb(program, 'stats', 'resource use of one container (cumulative counters survive restarts)')
    .argument('[name]')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      if (name) {
        const s = await client.containers.stats(name);
        if (opts.json) return printJson(s);
        return printFields({
          name: s.name, state: s.state, cpu: `${s.cpuSeconds.toFixed(2)} s, ${pct(s.cpuPercent)} now`,
          memory: of(s.memoryBytes, s.memoryLimitBytes), memoryPeak: bytes(s.memoryPeakBytes), processes: s.pidsLimit ? `${s.pids ?? '-'} / ${s.pidsLimit}` : s.pids,
          ioRead: `${bytes(s.ioReadBytes)} in ${s.ioReadOps} operations`, ioWrite: `${bytes(s.ioWriteBytes)} in ${s.ioWriteOps} operations`,
          disk: of(s.diskUsedBytes, s.diskLimitBytes), snapshots: bytes(s.snapshotBytes), oomKills: s.oomKills,
          network: `received ${bytes(s.netRxBytes)} in ${s.netRxPackets} packets, sent ${bytes(s.netTxBytes)} in ${s.netTxPackets} packets`,
        });
      }
      const all = await client.containers.allStats();
      if (opts.json) return printJson(all);
      printTable(STATS_HEADERS, statsRows(all));
    });

  verb(program, 'top', 'a live table of every container, like top (keys: c m p d i n sort, q quits)')
    .option('--sort <key>', 'cpu, mem, pids, disk, io or name', 'cpu')
    .option('--interval <seconds>', 'refresh interval', '2')
    .option('--once', 'print the table once and exit')
    .action(async (opts: { sort: string; interval: string; once?: boolean }, cmd: Command) => {
      if (!SORTS[opts.sort]) throw new InvalidArgument(`unknown sort key ${JSON.stringify(opts.sort)}: use ${Object.keys(SORTS).join(', ')}`);
      const interval = Number(opts.interval);
      if (!(interval >= 0.2)) throw new InvalidArgument(`invalid --interval ${JSON.stringify(opts.interval)}: use 0.2 seconds or more`);
      const client = clientOf(cmd);
      let sort = opts.sort;
      const draw = async (): Promise<void> => {
        const all = (await client.containers.allStats()).sort(SORTS[sort]);
        if (!opts.once) process.stdout.write('\x1b[H\x1b[2J');
        if (!opts.once) process.stdout.write(`strata top — ${all.filter((s) => s.state === 'running').length} running of ${all.length}, sorted by ${sort}, ${new Date().toLocaleTimeString()}\n\n`);
        printTable(STATS_HEADERS, statsRows(all));
      };
      await draw();
      if (opts.once) return;
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.on('data', (key: Buffer) => {
          const k = key.toString();
          if (k === 'q' || k === '\x03') { process.stdin.setRawMode(false); process.exit(0); }
          if (SORT_KEYS[k]) { sort = SORT_KEYS[k]; void draw(); }
        });
      }
      for (;;) {
        await new Promise((r) => setTimeout(r, interval * 1000));
        await draw();
      }
    });

  verb(program, 'ps', 'host processes of the containers: host pid, pid inside, user, command')
    .argument('[name]')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).containers.processes(name);
      if (opts.json) return printJson(list);
      printTable(['CONTAINER', 'PID', 'CPID', 'USER', 'COMMAND'], list.map((p) => [p.container, p.pid, p.cpid, p.user, p.command]));
    });

  verb(program, 'pool', 'the storage pool: driver, size and use')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const p = await clientOf(cmd).pool();
      if (opts.json) return printJson(p);
      printFields({
        driver: p.driver, path: p.path, volumes: p.volumes,
        byDriver: Object.entries(p.volumesByDriver ?? {}).map(([d, n]) => `${d} ${n}`).join(', ') || '-', provisioned: humanBytes(p.provisionedBytes), used: humanBytes(p.usedBytes),
        onDisk: humanBytes(p.allocatedBytes), hostSize: humanBytes(p.hostSizeBytes), hostFree: humanBytes(p.hostFreeBytes),
        capabilities: Object.entries(p.capabilities).filter(([, v]) => v).map(([k]) => k).join(', '),
      });
    });
}
