import type { Command } from 'commander';
import type { LedgerLine, UsagePoint } from '../../api/client.js';
import { InvalidArgument } from '../../errors/index.js';
import { clientOf, humanBytes, printJson, printTable, verb } from '../context.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const TABLE_ROWS = 30;
const SPARK = '▁▂▃▄▅▆▇█';
const SPARK_WIDTH = 60;

/** `--since`: a duration ago (90m, 2d) or a time. */
function fromOf(text: string): string {
  const ago = /^(\d+)([smhd])$/.exec(text);
  if (ago) return new Date(Date.now() - Number(ago[1]) * UNITS[ago[2]]).toISOString();
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new InvalidArgument(`invalid --since ${JSON.stringify(text)}: give a duration ago (10m, 2h, 7d) or a time (2026-11-26T10:00:00Z)`);
  return new Date(t).toISOString();
}

/** Values as a line of block characters, at most SPARK_WIDTH wide (each column the highest of its points). */
function sparkline(values: Array<number | null>): string {
  const cols = Math.min(values.length, SPARK_WIDTH);
  if (!cols) return '';
  const per = values.length / cols;
  const col = Array.from({ length: cols }, (_, i) => {
    const slice = values.slice(Math.floor(i * per), Math.floor((i + 1) * per)).filter((v): v is number => v !== null);
    return slice.length ? Math.max(...slice) : null;
  });
  const max = Math.max(0, ...col.filter((v): v is number => v !== null));
  return col.map((v) => (v === null ? ' ' : SPARK[max > 0 ? Math.min(7, Math.floor((v / max) * 7.999)) : 0])).join('');
}

const bytes = (n: number | null): string => (n === null ? '-' : humanBytes(n));
const pct = (n: number | null): string => (n === null ? '-' : `${n.toFixed(1)}%`);
const total = (points: UsagePoint[], k: keyof UsagePoint): number => points.reduce((a, p) => a + (p[k] as number), 0);
const time = (iso: string): string => `${iso.slice(0, 19).replace('T', ' ')}Z`;

function printSeries(title: string, s: { resolution: string; from: string; to: string; points: UsagePoint[] }): void {
  const p = s.points;
  process.stdout.write(`${title}: ${time(s.from)} to ${time(s.to)}, ${p.length} points of ${s.resolution}\n`);
  if (!p.length) { process.stdout.write('no usage recorded in this range\n'); return; }
  const mem = p.map((x) => x.memoryBytes).filter((v): v is number => v !== null);
  const lines: Array<[string, string, string]> = [
    ['cpu', sparkline(p.map((x) => x.cpuPercent)), `${total(p, 'cpuSeconds').toFixed(2)} s, highest ${pct(Math.max(...p.map((x) => x.cpuPercentMax)))}`],
    ['memory', sparkline(p.map((x) => x.memoryBytes)), mem.length ? `average ${bytes(mem.reduce((a, b) => a + b, 0) / mem.length)}, highest ${bytes(Math.max(...p.map((x) => x.memoryMaxBytes)))}` : '-'],
    ['net in', sparkline(p.map((x) => x.netRxBytes)), bytes(total(p, 'netRxBytes'))],
    ['net out', sparkline(p.map((x) => x.netTxBytes)), bytes(total(p, 'netTxBytes'))],
    ['io', sparkline(p.map((x) => x.ioReadBytes + x.ioWriteBytes)), `read ${bytes(total(p, 'ioReadBytes'))}, written ${bytes(total(p, 'ioWriteBytes'))}`],
  ];
  const width = Math.min(p.length, SPARK_WIDTH);
  for (const [name, spark, sum] of lines) process.stdout.write(`  ${name.padEnd(8)}${spark.padEnd(width)}  ${sum}\n`);
  process.stdout.write('\n');
  const shown = p.slice(-TABLE_ROWS);
  printTable(['TIME', 'CPU S', 'CPU %', 'MEMORY', 'MEMORY MAX', 'DISK', 'IO READ / WRITE', 'NET IN / OUT'], shown.map((x) => [
    time(x.at), x.cpuSeconds.toFixed(2), pct(x.cpuPercent), bytes(x.memoryBytes), bytes(x.memoryMaxBytes), bytes(x.diskUsedBytes),
    `${bytes(x.ioReadBytes)} / ${bytes(x.ioWriteBytes)}`, `${bytes(x.netRxBytes)} / ${bytes(x.netTxBytes)}`,
  ]));
  if (shown.length < p.length) process.stdout.write(`(the last ${shown.length} of ${p.length} points; --json for all)\n`);
}

function ledgerRow(l: LedgerLine): Array<string | number> {
  return [l.container ?? 'TOTAL', l.runningHours.toFixed(2), l.cpuSeconds.toFixed(1), l.memoryGiBHours.toFixed(3), bytes(l.memoryAverageBytes),
    l.diskGiBHours.toFixed(3), `${bytes(l.ioReadBytes)} / ${bytes(l.ioWriteBytes)}`, `${bytes(l.netRxBytes)} / ${bytes(l.netTxBytes)}`];
}

export function register(program: Command): void {
  verb(program, 'usage', "usage over time of a container, or of a tenant's containers; with --month, a tenant's ledger")
    .argument('[name]', 'the container')
    .option('--tenant <tenant>', "a tenant's containers together (- for the host's own)")
    .option('--since <when>', 'from a duration ago (10m, 2h, 7d) or a time', '1h')
    .option('--resolution <r>', '10s, 1m, 1h or 1d (default: chosen from the range)')
    .option('--month <YYYY-MM>', "with --tenant: the tenant's ledger of a calendar month (UTC)")
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { tenant?: string; since: string; resolution?: string; month?: string; json?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      if (name && opts.tenant !== undefined) throw new InvalidArgument('give a container or --tenant, not both');
      if (opts.month !== undefined) {
        if (opts.tenant === undefined) throw new InvalidArgument("--month shows a tenant's ledger: give --tenant NAME (- for the host's own containers)");
        const ledger = await client.metering.ledger(opts.tenant, opts.month);
        if (opts.json) return printJson(ledger);
        process.stdout.write(`${opts.tenant === '-' ? "the host's own containers" : `tenant ${opts.tenant}`}: ${opts.month} (${time(ledger.from)} to ${time(ledger.to)})\n\n`);
        printTable(['CONTAINER', 'HOURS', 'CPU S', 'MEM GiB·H', 'MEM AVG', 'DISK GiB·H', 'IO READ / WRITE', 'NET IN / OUT'],
          [...ledger.containers.map(ledgerRow), ledgerRow(ledger.total)]);
        return;
      }
      const query = { from: fromOf(opts.since), resolution: opts.resolution };
      if (opts.tenant !== undefined) {
        const s = await client.metering.tenantSeries(opts.tenant, query);
        if (opts.json) return printJson(s);
        return printSeries(opts.tenant === '-' ? "the host's own containers" : `tenant ${opts.tenant}`, s);
      }
      if (!name) throw new InvalidArgument('give a container, or --tenant NAME (see strata usage --help)');
      const s = await client.metering.containerSeries(name, query);
      if (opts.json) return printJson(s);
      printSeries(name, s);
    });
}
