/**
 * The console and its log: where a client attaches to a running container's console (the
 * monitor holds it), and what the console printed (`containers/NAME/console.log`, which the
 * monitor keeps at most 1 MiB; nothing here trims it).
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { FailedPrecondition } from '../errors/index.js';
import type { ContainerContext } from './context.js';

/** What the container's console printed; empty before it first ran. */
export async function readLog(ctx: ContainerContext, name: string): Promise<string> {
  return fsp.readFile(logPath(ctx, name), 'utf8').catch(() => '');
}

/**
 * What the console printed and then what it prints from now on, until `signal` fires. The log
 * is polled (250 ms): the monitor trims it by rewriting, which a watch would not follow.
 */
export function followLog(ctx: ContainerContext, name: string, signal: AbortSignal): Readable {
  const file = logPath(ctx, name);
  const out = new PassThrough();
  let pos = 0;
  let pumping: Promise<void> = Promise.resolve();
  const pump = async (): Promise<void> => {
    const st = await fsp.stat(file).catch(() => null);
    if (!st) return;
    if (st.size < pos) pos = 0; // trimmed: start over at the new beginning
    if (st.size > pos) {
      const from = pos;
      pos = st.size;
      await new Promise<void>((resolve) => createReadStream(file, { start: from, end: st.size - 1 }).on('end', resolve).on('error', () => resolve()).pipe(out, { end: false }));
    }
  };
  const timer = setInterval(() => { pumping = pumping.then(pump); }, 250);
  signal.addEventListener('abort', () => { clearInterval(timer); void pumping.then(() => out.end()); }, { once: true });
  pumping = pump();
  return out;
}

function logPath(ctx: ContainerContext, name: string): string {
  return ctx.storage.layout(ctx.record(name).name).consoleLog;
}

/** Where a client attaches to a running container's console (the monitor holds it; root only). */
export async function consolePlan(ctx: ContainerContext, name: string): Promise<{ monitorSocket: string; consoleLog: string }> {
  const c = ctx.record(name);
  if (!(await ctx.isRunning(c))) throw new FailedPrecondition(`container ${name} is not running: start it with 'strata start ${name}'; 'strata logs ${name}' shows what its console printed`);
  return { monitorSocket: ctx.paths.monitorSocket, consoleLog: ctx.storage.layout(c.name).consoleLog };
}
