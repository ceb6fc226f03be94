/**
 * Client of strata-monitor (native/strata-monitor.c), the per-data-root
 * subreaper that runs `runc run --detach` so that container inits have a
 * parent which reaps them, whether or not the daemon is alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { Internal, Unavailable } from '../errors/index.js';

function request(socket: string, lines: string[], timeoutMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    if (timeoutMs) conn.setTimeout(timeoutMs, () => conn.destroy(new Unavailable(`the container monitor at ${socket} did not answer in ${timeoutMs} ms`)));
    let answer = '';
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(lines.map((l) => `${l}\n`).join('')));
    conn.on('data', (d: string) => { answer += d; });
    conn.on('error', reject);
    conn.on('close', () => resolve(answer.trim()));
  });
}

/** The size a console log (or lxcfs's log) never passes. */
export const LOG_CAP = 1 << 20;

/** How a container's init ended, as the monitor reaped it. */
export interface InitDeath {
  pid: number;
  /** Exit status, or null when a signal ended it. */
  status: number | null;
  /** Signal number that ended it, or null. */
  signal: number | null;
}

function parseDeath(line: string): InitDeath | null {
  const m = /^DIED (\d+) (exit|signal) (\d+)$/.exec(line.trim());
  if (!m) return null;
  return { pid: Number(m[1]), status: m[2] === 'exit' ? Number(m[3]) : null, signal: m[2] === 'signal' ? Number(m[3]) : null };
}

export class Monitor {
  /** The monitor this daemon started, if it did (one found running has another parent). */
  private child: ChildProcess | null = null;
  private watcher: Socket | null = null;

  constructor(private readonly socket: string, private readonly binary: string, readonly exitsFile = `${dirname(socket)}/exits`) {}

  /**
   * Calls `onDeath` for every container init the monitor reaps from now on, until `unwatch`.
   * Resolves once the monitor listens for this daemon (false: a monitor too old to tell).
   */
  watch(onDeath: (death: InitDeath) => void): Promise<boolean> {
    return new Promise((resolve) => {
      const conn = createConnection(this.socket);
      let buffered = '';
      let answered = false;
      conn.setEncoding('utf8');
      conn.on('connect', () => conn.write('WATCH\n'));
      conn.on('data', (d: string) => {
        buffered += d;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (!answered) {
            answered = true;
            resolve(line === 'WATCHING');
            continue;
          }
          const death = parseDeath(line);
          if (death) onDeath(death);
        }
      });
      conn.on('error', () => resolve(false));
      conn.on('close', () => { if (!answered) resolve(false); });
      this.watcher = conn;
    });
  }

  unwatch(): void {
    this.watcher?.destroy();
    this.watcher = null;
  }

  /** Lets go of the console that writes `consoleLog` (its container stopped); nothing when there is none. */
  async closeConsole(consoleLog: string): Promise<void> {
    if (consoleLog.includes('\n')) return;
    await request(this.socket, [`CLOSE ${consoleLog}`]).catch(() => undefined);
  }

  /** The deaths recorded while nobody watched (and since), taken out of the file: read once. */
  takeRecordedDeaths(): InitDeath[] {
    const taken = `${this.exitsFile}.taken`;
    try {
      renameSync(this.exitsFile, taken);
    } catch {
      return [];
    }
    const text = readFileSync(taken, 'utf8');
    rmSync(taken, { force: true });
    return text.split('\n').map(parseDeath).filter((d): d is InitDeath => d !== null);
  }

  async ping(): Promise<number | null> {
    try {
      // Bounded: a monitor that accepts but never answers must not hang a daemon's start.
      const answer = await request(this.socket, ['PING'], 5000);
      const m = /^PONG (\d+)$/.exec(answer);
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  /** Starts the monitor unless one already answers on the socket. */
  async ensureRunning(): Promise<void> {
    if (await this.ping()) return;
    mkdirSync(dirname(this.socket), { recursive: true, mode: 0o700 });
    const child = spawn(this.binary, [this.socket, this.exitsFile], { detached: true, stdio: 'ignore' });
    child.unref();
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (await this.ping()) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    if (await this.ping()) return;
    // Status 3: another monitor holds this socket's lock yet did not answer.
    if (child.exitCode === 3) {
      this.child = null;
      throw new Unavailable(`another container monitor holds ${this.socket}.lock but does not answer: find it with 'fuser ${this.socket}.lock' and end it once no container of this data root runs`);
    }
    throw new Unavailable(`the container monitor (${this.binary}) did not start: run 'npm run build' to build the native helpers`);
  }

  /**
   * Runs argv below the monitor; its stdout and stderr, and those of everything that inherits
   * them (a container's init), go through the monitor to `outFile`, which never grows past
   * `cap` bytes (the oldest half goes). Resolves with argv's exit status.
   */
  async run(argv: string[], outFile: string, cap = LOG_CAP, consoleSocket?: string): Promise<number> {
    for (const word of [...argv, outFile, consoleSocket ?? '']) {
      if (word.includes('\n')) throw new Internal(`cannot pass a word with a newline to the monitor: ${JSON.stringify(word)}`);
    }
    const answer = await request(this.socket, [`OUT ${outFile}`, `CAP ${cap}`, ...(consoleSocket ? [`TTY ${consoleSocket}`] : []), ...argv.map((a) => `ARG ${a}`), 'RUN']);
    const m = /^EXIT (\d+)$/.exec(answer);
    if (!m) throw new Internal(`the container monitor answered ${JSON.stringify(answer)} to ${argv[0]}`);
    return Number(m[1]);
  }

  /**
   * Asks the monitor to exit once nothing is left below it. If this daemon started it, waits
   * (a few seconds at most) to reap it: on a host whose pid 1 does not reap, it would stay a zombie.
   */
  async quit(): Promise<void> {
    const child = this.child;
    const exited = child && child.exitCode === null && child.signalCode === null
      ? new Promise<void>((resolve) => {
        // Held (ref'd) on purpose: a daemon on its way out must not end before it has reaped.
        child.ref();
        const timer = setTimeout(resolve, 5000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
      })
      : Promise.resolve();
    await request(this.socket, ['QUIT']).catch(() => undefined);
    await exited;
  }
}
