/**
 * Client of strata-monitor (native/strata-monitor.c), the per-data-root
 * subreaper that runs `runc run --detach` so that container inits have a
 * parent which reaps them, whether or not the daemon is alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { Internal, Unavailable } from '../errors/index.js';

function request(socket: string, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let answer = '';
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(lines.map((l) => `${l}\n`).join('')));
    conn.on('data', (d: string) => { answer += d; });
    conn.on('error', reject);
    conn.on('close', () => resolve(answer.trim()));
  });
}

export class Monitor {
  /** The monitor this daemon started, if it did (one found running has another parent). */
  private child: ChildProcess | null = null;

  constructor(private readonly socket: string, private readonly binary: string) {}

  async ping(): Promise<number | null> {
    try {
      const answer = await request(this.socket, ['PING']);
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
    const child = spawn(this.binary, [this.socket], { detached: true, stdio: 'ignore' });
    child.unref();
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Unavailable(`the container monitor (${this.binary}) did not start: run 'npm run build' to build the native helpers`);
  }

  /** Runs argv below the monitor; stdout and stderr are appended to `outFile`. Resolves with the exit status. */
  async run(argv: string[], outFile: string): Promise<number> {
    for (const word of [...argv, outFile]) {
      if (word.includes('\n')) throw new Internal(`cannot pass a word with a newline to the monitor: ${JSON.stringify(word)}`);
    }
    const answer = await request(this.socket, [`OUT ${outFile}`, ...argv.map((a) => `ARG ${a}`), 'RUN']);
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
