/**
 * Results on disk and as a document: bench/results/MODE/ID.json per benchmark plus machine.json,
 * and docs/benchmarks.md with a table and an SVG plot per benchmark (docs/bench/MODE-ID.svg,
 * which renders on a repository page), for the quick and the full suite side by side.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fmt, type BenchResult, type Measure, type Mode } from './lib.js';

export interface Machine {
  date: string;
  mode: Mode;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  tools: Record<string, string>;
  cgroups: string;
  seconds?: number;
}

const version = (argv: string[], re = /(\d+\.\d+(?:\.\d+)?)/): string => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return r.status === 0 ? (re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?') : 'not installed';
};

export function machine(mode: Mode): Machine {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return {
    date: new Date().toISOString(), mode,
    cpu: cpus()[0]?.model ?? '?', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(),
    os: /^PRETTY_NAME="?([^"\n]+)/m.exec(osRelease)?.[1] ?? '?',
    tools: {
      node: process.version, runc: version(['runc', '--version']), podman: version(['podman', '--version']),
      lxc: version(['lxc-start', '--version'], /(\d+\.\d+\.\d+)/), cni: version(['dpkg-query', '-W', '-f', '${Version}', 'containernetworking-plugins'], /^(\S+)$/),
    },
    cgroups: existsSync('/sys/fs/cgroup/memory') ? 'v1 controllers (hybrid)' : 'v2',
  };
}

export function writeResults(dir: string, m: Machine, results: BenchResult[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'machine.json'), `${JSON.stringify(m, null, 2)}\n`);
  for (const r of results) writeFileSync(join(dir, `${r.id}.json`), `${JSON.stringify(r, null, 2)}\n`);
}

function readResults(dir: string): { machine: Machine; results: BenchResult[] } | null {
  if (!existsSync(join(dir, 'machine.json'))) return null;
  const order = ['floor', 'start', 'stop', 'cli', 'density', 'scale', 'logins', 'attach', 'capture', 'memory', 'metering', 'panel', 'backups'];
  const results = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'machine.json')
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as BenchResult)
    .sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  return { machine: JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')) as Machine, results };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A horizontal bar chart of the medians, with min–max whiskers; one unit per plot (the first measure's). */
export function svgPlot(r: BenchResult): string {
  const unit = r.measures[0]?.unit;
  const bars = r.measures.filter((m) => m.unit === unit && Number.isFinite(m.summary.median));
  const width = 760;
  const labelW = 330;
  const rowH = 28;
  const top = 34;
  const height = top + bars.length * rowH + 30;
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.summary.max) ? b.summary.max : b.summary.median)), 1e-9);
  const x = (v: number): number => labelW + (v / max) * (width - labelW - 90);
  const colour = (m: Measure): string => (m.label.startsWith('strata') ? '#2f6fb3' : '#9a9a9a');
  const rows = bars.map((m, i) => {
    const y = top + i * rowH;
    const s = m.summary;
    const whisker = s.n > 1 ? `<line x1="${x(s.min)}" x2="${x(s.max)}" y1="${y + 10}" y2="${y + 10}" stroke="#333" stroke-width="1.5"/>` : '';
    return `<text x="${labelW - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(m.label)}</text>`
      + `<rect x="${labelW}" y="${y + 2}" width="${Math.max(1, x(s.median) - labelW)}" height="16" fill="${colour(m)}"/>${whisker}`
      + `<text x="${x(Math.max(s.median, Number.isFinite(s.max) ? s.max : s.median)) + 6}" y="${y + 14}" font-size="12">${fmt(s.median)} ${unit}</text>`;
  }).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${esc(r.title)} (median, min–max; ${unit})</text>
${rows}
</svg>
`;
}

function table(r: BenchResult): string {
  const lines = ['| | median | min | max | runs | |', '| --- | ---: | ---: | ---: | ---: | --- |'];
  for (const m of r.measures) {
    const s = m.summary;
    lines.push(`| ${m.label} | ${fmt(s.median)} ${m.unit} | ${fmt(s.min)} | ${fmt(s.max)} | ${s.n} | ${m.note ?? ''} |`);
  }
  return lines.join('\n');
}

function goals(r: BenchResult): string {
  if (!r.goals.length) return '';
  return ['', '| goal | measured | met |', '| --- | --- | --- |',
    ...r.goals.map((g) => `| ${g.text} | ${g.measured} | ${g.met === null ? 'not measured' : g.met ? 'yes' : '**no**'} |`)].join('\n');
}

function section(mode: Mode, data: { machine: Machine; results: BenchResult[] }, docsDir: string): string {
  const m = data.machine;
  const out = [
    `## ${mode === 'full' ? 'Full suite' : mode === 'quick' ? 'Quick suite' : 'Harness test (tiny)'}`, '',
    `Run ${m.date.slice(0, 16).replace('T', ' ')} UTC${m.seconds ? ` in ${Math.round(m.seconds / 60)} min` : ''} on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, kernel ${m.kernel}, cgroups ${m.cgroups}; `
      + `runc ${m.tools.runc}, CNI plugins ${m.tools.cni}, podman ${m.tools.podman}, LXC ${m.tools.lxc}, Node.js ${m.tools.node}.`, '',
  ];
  const missed = data.results.flatMap((r) => r.goals.filter((g) => g.met === false).map((g) => `${r.title}: ${g.text} (measured ${g.measured})`));
  out.push(missed.length ? `**Goals missed:** ${missed.join('; ')}.` : 'Every goal measured was met.', '');
  for (const r of data.results) {
    mkdirSync(join(docsDir, 'bench'), { recursive: true });
    writeFileSync(join(docsDir, 'bench', `${mode}-${r.id}.svg`), svgPlot(r));
    out.push(`### ${r.title}`, '', r.method, '', table(r), goals(r), '', `![${r.title}](bench/${mode}-${r.id}.svg)`, '');
    if (r.skipped.length) out.push(`Not measured: ${r.skipped.join('; ')}.`, '');
  }
  return out.join('\n');
}

/** Rewrites docs/benchmarks.md from the results of the full and the quick suite found on disk. */
export function writeDocument(resultsDir: string, docsDir: string): void {
  const parts = [
    '# Benchmarks', '',
    'Strata measured side by side with the tools operators would otherwise use — runc (with the CNI',
    'bridge plugin by hand, the floor any runc-based tool has to pay), podman and LXC — in the same run',
    'on the same machine, each benchmark alternating the tools. Regenerated by `npm run bench`; figures',
    'are medians with min and max. These machines are noisy: compare ratios within one run, not',
    'figures across runs.', '',
    '## How to rerun', '',
    '```sh',
    'npm run bench                  # the full suite: 1000 containers, 1000 Debian with sshd; about 45 minutes',
    'npm run bench -- --quick       # 100 containers, 100 Debian with sshd; about 15 minutes',
    'npm run bench -- --only logins # one group (floor, start, density, logins, apps, metering, panel, backups)',
    '```', '',
    '`scripts/bench.sh` runs the set-up (`scripts/setup-host.sh`), installs podman, lxc and lxc-templates',
    'from Debian when they are missing, runs `node dist/bench/suite.js`, and removes again exactly the',
    'packages it installed and every host object the reference tools made (bridges, nftables tables,',
    'cgroups, their state directories). Results: `bench/results/{quick,full}/*.json`; this page and its plots',
    'are rewritten from them.', '',
    '## Host tuning', '',
    'A thousand containers need more than a stock host allows. `scripts/tune-host.sh` (run by the',
    'quickstart and by `npm run bench`) raises these limits, never lowers them, and writes them to',
    '`/etc/sysctl.d/90-strata.conf` so that they survive a reboot (`scripts/tune-host.sh --remove`',
    'deletes the file):', '',
    '| sysctl | value | why |', '| --- | ---: | --- |',
    '| `fs.inotify.max_user_instances` | 8192 | inits and services inside containers watch files; 128 by default |',
    '| `fs.inotify.max_user_watches` | 1048576 | the same, per watch |',
    '| `kernel.keys.maxkeys`, `kernel.keys.maxbytes` | 2000, 2000000 | runc gives every container a session keyring |',
    '| `net.ipv4.neigh.default.gc_thresh1/2/3` | 2048, 8192, 16384 | one ARP entry per container on its bridge; the defaults (128/512/1024) drop entries past 1024 |',
    '| `kernel.pid_max` | 4194304 | a few processes per container, and their threads |', '',
    'Where the time goes, what was changed because of these figures and what still stands between',
    'Strata and the goals it misses: [performance.md](performance.md). Run the daemon with',
    '`STRATA_PROFILE=1` and each create, start and destroy writes its laps to the daemon log.', '',
  ];
  for (const mode of ['full', 'quick'] as const) {
    const data = readResults(join(resultsDir, mode));
    if (data) parts.push(section(mode, data, docsDir));
    else parts.push(`## ${mode === 'full' ? 'Full' : 'Quick'} suite`, '', `Not run yet on this machine: \`npm run bench${mode === 'quick' ? ' -- --quick' : ''}\`.`, '');
  }
  writeFileSync(join(docsDir, 'benchmarks.md'), `${parts.join('\n').trimEnd()}\n`);
}
