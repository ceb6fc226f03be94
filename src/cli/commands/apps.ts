import type { Command } from 'commander';
import { promises as fsp } from 'node:fs';
import type { CaptureResult, CaptureSession } from '../../api/client.js';
import { InvalidArgument } from '../../errors/index.js';
import { clientOf, detached, followOperation, humanBytes, printJson, progressPrinter, verb, withWaitOptions } from '../context.js';
import { shellIn } from './exec.js';

const repeat = (v: string, prev: string[]): string[] => [...prev, v];

function versionOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgument(`invalid --version ${JSON.stringify(value)}: give a version number such as 2 (see 'strata template inspect')`);
  return Number(value);
}

function printCapture(r: CaptureResult): void {
  process.stdout.write(`template ${r.template} version ${r.version}: ${r.summary.files} files, ${humanBytes(r.summary.bytes)}, `
    + `${r.summary.deletions} deletions, ${r.summary.keys} database keys, captured in ${r.seconds.toFixed(1)} s\n`);
}

/** `template capture`, `template upgrade` (under the `template` command given), `attach` and `detach`. */
export function register(program: Command, template: Command): void {

  withWaitOptions(verb(template, 'capture', 'run an installer in a throw-away container and keep what it changed as an application template (an operation, unless --interactive)'))
    .argument('<name>')
    .argument('[command...]', 'the installer and its arguments (put them after --)')
    .requiredOption('--base <template>', 'OS template, then application templates to capture over (repeatable)', repeat, [] as string[])
    .option('--net <network>', 'give the throw-away container this network (repeatable; none by default)', repeat, [] as string[])
    .option('--exclude <glob>', 'leave these paths out (repeatable), e.g. /opt/app/cache/**', repeat, [] as string[])
    .option('--script <file>', 'run this shell script instead of a command')
    .option('--interactive', 'open a shell in the throw-away container; the capture happens when it exits')
    .option('--json', 'print JSON')
    .action(async (name: string, command: string[], opts: { base: string[]; net: string[]; exclude: string[]; script?: string; interactive?: boolean; json?: boolean; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const body = {
        bases: opts.base, excludes: opts.exclude, ...(opts.net.length ? { nets: opts.net } : {}),
        ...(command.length ? { command } : {}), ...(opts.interactive ? { interactive: true } : {}),
        ...(opts.script !== undefined ? { script: await fsp.readFile(opts.script, 'utf8').catch((err: Error) => { throw new InvalidArgument(`cannot read the script ${opts.script}: ${err.message}`); }) } : {}),
      };
      let result: CaptureResult | null;
      if (opts.interactive) {
        if (detached(opts)) throw new InvalidArgument('--interactive opens a shell to wait for: it cannot be --no-wait / --detach');
        const s = await client.templates.capture<CaptureSession>(name, body, progressPrinter());
        process.stderr.write(`a shell in ${s.container}: install what the template should hold, then exit the shell to capture it (exit 1… or 'kill -9 $$' to abandon)\n`);
        // Its shell runs where the daemon is: runc here, or the daemon's exec session for a remote.
        const status = await shellIn(client, s.container);
        if (status !== 0) {
          await client.templates.abortCapture(name, s.session);
          throw new InvalidArgument(`the shell exited with status ${status}: capture abandoned, nothing was kept (exit with status 0 to capture)`);
        }
        result = await client.templates.finishCapture(name, s.session, progressPrinter());
      } else {
        result = await followOperation<CaptureResult>(client, await client.templates.startCapture(name, body), { detach: detached(opts) });
      }
      if (!result) return;
      if (opts.json) return printJson(result);
      printCapture(result);
    });

  verb(template, 'upgrade', 'move a stopped container to the newest version of an attached template, keeping its own changes')
    .argument('<container>')
    .argument('<template>')
    .option('--force', 'even when the new version was captured on other bases')
    .action(async (container: string, name: string, opts: { force?: boolean }, cmd: Command) => {
      const r = await clientOf(cmd).containers.upgrade(container, name, !!opts.force);
      process.stdout.write(`${container}: ${name} version ${r.from} → ${r.to}\n`);
      for (const line of [...r.conflicts, ...r.remaps]) process.stdout.write(`  ${line}\n`);
    });

  verb(program, 'attach', 'attach an application template to a container (stopped: a shared layer; running: at once)')
    .argument('<container>')
    .argument('<template>')
    .option('--force', 'even when the template was captured on another OS template')
    .option('--version <n>', 'a version other than the newest')
    .option('--json', 'print JSON')
    .action(async (container: string, name: string, opts: { force?: boolean; version?: string; json?: boolean }, cmd: Command) => {
      const r = await clientOf(cmd).containers.attach(container, { template: name, force: !!opts.force, version: versionOf(opts.version) });
      if (opts.json) return printJson(r);
      process.stdout.write(`${name} version ${r.version} attached to ${container} at position ${r.position}${r.live ? `, ${r.filesCopied} files (${humanBytes(r.bytesCopied)}) copied in until its next start` : ''} in ${r.milliseconds} ms\n`);
      for (const line of [...r.warnings, ...r.conflicts, ...r.remaps]) process.stdout.write(`  ${line}\n`);
      if (r.kept.length) process.stdout.write(`  kept the container's own ${r.kept.length} path(s): ${r.kept.slice(0, 5).join(', ')}${r.kept.length > 5 ? ', …' : ''}\n`);
    });

  verb(program, 'detach', 'detach an application template from a stopped container (its own changes stay)')
    .argument('<container>')
    .argument('<template>')
    .action(async (container: string, name: string, _opts: unknown, cmd: Command) => {
      const r = await clientOf(cmd).containers.detach(container, name);
      process.stdout.write(`${name} detached from ${container}\n`);
      for (const line of r.conflicts) process.stdout.write(`  ${line}\n`);
    });
}
