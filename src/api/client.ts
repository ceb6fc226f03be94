/** The API client used by the CLI (and tests): HTTP over the daemon's unix socket. */
import { request as httpRequest } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { errorFromWire, Internal, Unavailable } from '../errors/index.js';

export class Client {
  constructor(readonly socket: string) {}

  private open(method: string, path: string, body?: unknown): Promise<import('node:http').IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest({
        socketPath: this.socket, method, path,
        headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
          reject(new Unavailable(`cannot reach the Strata daemon at ${this.socket} (${err.code}): start it with 'strata daemon' (or 'npm run quickstart'), or point --socket / STRATA_SOCKET at it`));
        } else reject(err);
      });
      req.end(data);
    });
  }

  private static async text(res: import('node:http').IncomingMessage): Promise<string> {
    let text = '';
    res.setEncoding('utf8');
    for await (const chunk of res) text += chunk as string;
    return text;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const text = await Client.text(res);
    if ((res.statusCode ?? 500) >= 400) {
      let parsed: { code?: string; message?: string } = {};
      try { parsed = JSON.parse(text) as typeof parsed; } catch { /* not JSON */ }
      throw errorFromWire(parsed.code ?? 'internal', parsed.message ?? `the daemon answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    const type = String(res.headers['content-type'] ?? '');
    return (type.includes('json') ? JSON.parse(text) : text) as T;
  }

  /** A streamed NDJSON call: each {"progress"} line goes to onProgress; resolves with "result". */
  async stream<T>(method: string, path: string, body: unknown, onProgress: (line: string) => void): Promise<T> {
    const res = await this.open(method, path, body);
    if ((res.statusCode ?? 500) >= 400) {
      const text = await Client.text(res);
      const parsed = JSON.parse(text) as { code: string; message: string };
      throw errorFromWire(parsed.code, parsed.message);
    }
    let pending = '';
    let result: T | undefined;
    let failure: Error | undefined;
    res.setEncoding('utf8');
    for await (const chunk of res) {
      pending += chunk as string;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        const msg = JSON.parse(line) as { progress?: string; result?: T; error?: { code: string; message: string } };
        if (msg.progress !== undefined) onProgress(msg.progress);
        if (msg.result !== undefined) result = msg.result;
        if (msg.error) failure = errorFromWire(msg.error.code, msg.error.message);
      }
    }
    if (failure) throw failure;
    if (result === undefined) throw errorFromWire('internal', 'the daemon ended the stream without a result');
    return result;
  }

  /** A raw streamed body (logs --follow). */
  async pipe(path: string, out: NodeJS.WritableStream): Promise<void> {
    const res = await this.open('GET', path);
    if ((res.statusCode ?? 500) >= 400) {
      const parsed = JSON.parse(await Client.text(res)) as { code: string; message: string };
      throw errorFromWire(parsed.code, parsed.message);
    }
    for await (const chunk of res) out.write(chunk as Buffer);
  }
}

/**
 * Attaches to the console that writes `consoleLog`, held by the container monitor at `monitorSocket` (the daemon names both: POST /v1/containers/NAME/console):
 * resolves with a socket that carries what the console prints from now on, and types what is
 * written to it. Rejects when there is none.
 */
export function attachConsole(monitorSocket: string, consoleLog: string, rows: number, cols: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (/[\s]/.test(consoleLog)) { reject(new Internal(`a console log path with white space cannot be attached: ${consoleLog}`)); return; }
    const conn = createConnection(monitorSocket);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const nl = head.indexOf('\n');
      if (nl < 0) return;
      conn.off('data', onData);
      const line = head.slice(0, nl);
      if (line !== 'ATTACHED') { conn.destroy(); reject(new Unavailable(`the console is not there (${line}): is the container running?`)); return; }
      const rest = Buffer.from(head.slice(nl + 1), 'latin1');
      conn.pause();
      if (rest.length) conn.unshift(rest);
      resolve(conn);
    };
    conn.on('connect', () => conn.write(`ATTACH ${consoleLog} ${rows} ${cols}\n`));
    conn.on('data', onData);
    conn.once('error', reject);
  });
}
