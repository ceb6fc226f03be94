/**
 * Snapshots and backups of a container whose own files are N MiB (1 GiB in the full run): a
 * snapshot of it running on a plain private area (a copy) and on a btrfs disk (a subvolume
 * snapshot), against `cp -a --reflink=auto` and `btrfs subvolume snapshot` of the same files in
 * the same run; a backup of it to a file and its restore as a new container. Moves are measured by
 * test/move.test.ts (two daemons in network namespaces), whose figure lines the closing notes quote.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, sh, summarize, time, withDaemon, type BenchResult, type Context } from './lib.js';
import type { TestDaemon } from '../test/harness.js';

const MiB = 1 << 20;

/** Fills `ct` with `mib` MiB: one large file and a thousand small ones (a realistic mix for a copy). */
async function fill(d: TestDaemon, ct: string, mib: number): Promise<void> {
  await d.ok('exec', ct, '--', 'sh', '-c', `mkdir -p /data/small && head -c ${mib * MiB - 1000 * 4096} /dev/urandom > /data/big && for i in $(seq 1 1000); do head -c 4096 /dev/urandom > /data/small/$i; done`);
}

async function snapshotRuns(ctx: Context, d: TestDaemon, ct: string, runs: number): Promise<{ frozen: number[]; wall: number[] }> {
  const frozen: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    let ms = 0;
    wall.push(await time(async () => { ms = JSON.parse(await d.ok('snapshot', 'create', ct, `s${i}`, '--json')).frozenMs as number; }));
    frozen.push(ms);
    await d.ok('snapshot', 'rm', ct, `s${i}`);
  }
  ctx.log(`backups: ${ct}: snapshot frozen ${fmt(summarize(frozen).median)} ms, wall ${fmt(summarize(wall).median)} ms`);
  return { frozen, wall };
}

export async function backupBenchmarks(ctx: Context): Promise<BenchResult[]> {
  const mib = ctx.mode === 'tiny' ? 8 : ctx.mode === 'quick' ? 256 : 1024;
  const runs = ctx.mode === 'tiny' ? 2 : 5;
  const out = mkdtempSync('/tmp/strata-bench-backups-');
  try {
    const copy = await withDaemon(async (d) => {
      await d.ok('create', 'bk', '--template', 'bb', '--no-net');
      await d.ok('start', 'bk');
      ctx.log(`backups: filling a private area with ${mib} MiB`);
      await fill(d, 'bk', mib);
      const area = join(d.paths.containers, 'bk', 'private', 'root');
      const snap = await snapshotRuns(ctx, d, 'bk', runs);
      const cp: number[] = [];
      for (let i = 0; i < runs; i++) {
        const target = join(out, `cp${i}`);
        cp.push(await time(() => sh('cp', ['-a', '--reflink=auto', area, target])));
        rmSync(target, { recursive: true, force: true });
      }
      const file = join(out, 'bk.backup');
      const backupMs = await time(() => d.ok('backup', 'bk', '-o', file));
      const bytes = statSync(file).size;
      const restoreMs = await time(() => d.ok('restore', file, '--name', 'bk2', '--no-ports'));
      rmSync(file, { force: true });
      return { snap, cp, backupMs, bytes, restoreMs };
    });
    const btrfs = await withDaemon(async (d) => {
      await d.ok('create', 'bt', '--template', 'bb', '--no-net', '--disk', `${Math.max(256, mib * 2 + 256)}M`);
      await d.ok('start', 'bt');
      await fill(d, 'bt', mib);
      const snap = await snapshotRuns(ctx, d, 'bt', runs);
      // The tool alone: a read-only snapshot of the same subvolume, beside it.
      const pool = join(d.paths.pool, 'btrfs');
      const raw: number[] = [];
      for (let i = 0; i < runs; i++) {
        const target = join(pool, `bench-raw-${i}`);
        raw.push(await time(() => sh('btrfs', ['subvolume', 'snapshot', '-r', join(pool, 'bt'), target])));
        sh('btrfs', ['subvolume', 'delete', target]);
      }
      return { snap, raw };
    }, { STRATA_STORAGE_DRIVER: 'btrfs' });
    const s = (xs: number[]) => summarize(xs);
    const ratio = (a: number[], b: number[]): string => `${fmt(s(a).median / Math.max(s(b).median, 0.001), 2)}×`;
    return [{
      id: 'backups', title: `Snapshots and backups of a container with ${mib} MiB of its own files`,
      method: `A running busybox container whose private area holds ${mib} MiB (one file of random bytes and 1000 files of 4 KiB). `
        + `${runs} snapshots each, taken running (frozen meanwhile) and removed: on a plain private area (a copy beside the container) against `
        + '`cp -a --reflink=auto` of the same area, and on a btrfs disk (a read-only subvolume snapshot) against `btrfs subvolume snapshot -r` of the same '
        + 'subvolume, in the same run. Then one backup of the plain one to a file (no templates) and its restore as a new container.',
      measures: [
        { label: 'snapshot, copy: frozen', unit: 'ms', summary: s(copy.snap.frozen), note: `${ratio(copy.snap.frozen, copy.cp)} cp -a` },
        { label: 'snapshot, copy: whole command', unit: 'ms', summary: s(copy.snap.wall) },
        { label: 'cp -a --reflink=auto of the same area', unit: 'ms', summary: s(copy.cp) },
        { label: 'snapshot, btrfs: frozen', unit: 'ms', summary: s(btrfs.snap.frozen), note: `${ratio(btrfs.snap.frozen, btrfs.raw)} btrfs subvolume snapshot` },
        { label: 'snapshot, btrfs: whole command', unit: 'ms', summary: s(btrfs.snap.wall) },
        { label: 'btrfs subvolume snapshot -r of the same subvolume', unit: 'ms', summary: s(btrfs.raw) },
        { label: 'backup to a file (no templates)', unit: 'ms', summary: s([copy.backupMs]) },
        { label: 'its size', unit: 'MiB', summary: s([copy.bytes / MiB]) },
        { label: 'restore as a new container', unit: 'ms', summary: s([copy.restoreMs]) },
      ],
      goals: [
        { text: 'a snapshot on a btrfs disk keeps the container frozen no longer than 1.5× the btrfs snapshot alone', met: s(btrfs.snap.frozen).median <= 1.5 * s(btrfs.raw).median, measured: `${fmt(s(btrfs.snap.frozen).median)} ms vs ${fmt(s(btrfs.raw).median)} ms` },
        { text: 'a snapshot by copy keeps it frozen no longer than 1.5× cp -a of the same files', met: s(copy.snap.frozen).median <= 1.5 * s(copy.cp).median, measured: `${fmt(s(copy.snap.frozen).median)} ms vs ${fmt(s(copy.cp).median)} ms` },
      ],
      skipped: ['moves: measured by test/move.test.ts (two daemons in network namespaces), not here'],
    }];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
