/**
 * The console and its log: where a client attaches to a running container's console (the
 * monitor holds it), and what the console printed (`containers/NAME/console.log`, which the
 * monitor keeps at most 1 MiB; nothing here trims it).
 */
import { promises as fsp } from 'node:fs';
import { FailedPrecondition } from '../errors/index.js';
import type { ContainerContext } from './context.js';

/** What the container's console printed; empty before it first ran. */
export async function readLog(ctx: ContainerContext, name: string): Promise<string> {
  return fsp.readFile(logPath(ctx, name), 'utf8').catch(() => '');
}

export function logPath(ctx: ContainerContext, name: string): string {
  return ctx.storage.layout(ctx.record(name).name).consoleLog;
}

/** Where a client attaches to a running container's console (the monitor holds it; root only). */
export async function consolePlan(ctx: ContainerContext, name: string): Promise<{ monitorSocket: string; consoleLog: string }> {
  const c = ctx.record(name);
  if (!(await ctx.isRunning(c))) throw new FailedPrecondition(`container ${name} is not running: start it with 'strata start ${name}'; 'strata logs ${name}' shows what its console printed`);
  return { monitorSocket: ctx.paths.monitorSocket, consoleLog: ctx.storage.layout(c.name).consoleLog };
}
