/**
 * What the host as a whole uses now (the panel's dashboard): CPU busy since the previous reading
 * (/proc/stat), memory (MemTotal, MemAvailable), the data root's file system (statfs) and bytes
 * through its network interfaces other than loopback (/proc/net/dev), plus the load average.
 */
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export interface HostUsage {
  at: string;
  cpus: number;
  /** Busy share of all CPUs since the previous reading, 100 = one CPU; null at the first. */
  cpuPercent: number | null;
  load: number[];
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  diskTotalBytes: number;
  diskFreeBytes: number;
  /** Cumulative since boot, all interfaces but lo (containers' veths included). */
  netRxBytes: number;
  netTxBytes: number;
}

function cpuTimes(): { busy: number; total: number } {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = first.reduce((a, b) => a + b, 0);
  // idle and iowait are not busy.
  return { busy: total - (first[3] ?? 0) - (first[4] ?? 0), total };
}

function meminfo(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function netTotals(): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!rest || name.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0];
    tx += f[8];
  }
  return { rx, tx };
}

export class HostUsageReader {
  private last: { busy: number; total: number } | null = null;

  constructor(private readonly dataRoot: string) {}

  read(): HostUsage {
    const n = cpus().length || 1;
    const now = cpuTimes();
    const cpuPercent = this.last && now.total > this.last.total ? ((now.busy - this.last.busy) / (now.total - this.last.total)) * 100 * n : null;
    this.last = now;
    const fs = statfsSync(this.dataRoot);
    const net = netTotals();
    return {
      at: new Date().toISOString(), cpus: n, cpuPercent: cpuPercent === null ? null : Math.round(cpuPercent * 10) / 10, load: loadavg(),
      memoryTotalBytes: meminfo('MemTotal'), memoryAvailableBytes: meminfo('MemAvailable'),
      diskTotalBytes: fs.blocks * fs.bsize, diskFreeBytes: fs.bavail * fs.bsize, netRxBytes: net.rx, netTxBytes: net.tx,
    };
  }
}
