import type { Command } from 'commander';
import { FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import type { ExportResult, TemplateView } from '../../api/client.js';
import { clientOf, daemonPath, detached, followOperation, humanBytes, printFields, printJson, printTable, progressPrinter, since, verb, withWaitOptions } from '../context.js';

/** The `template` command and its verbs; returns it for the verbs other files add. */
export function register(program: Command): Command {
  const template = program.command('template').description('build, list, inspect and remove templates');

  withWaitOptions(verb(template, 'build', 'build an OS template (an operation: see strata operation)'))
    .argument('<name>')
    .requiredOption('--from <source>', "busybox | debootstrap[:SUITE] | host | rootfs:FILE | oci:PATH (FILE and PATH on the daemon's host)")
    .option('--init <init>', 'the init of a debootstrap template: systemd (the default) or sysvinit')
    .action(async (name: string, opts: { from: string; init?: string; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      // A file or directory source is read by the daemon: made absolute here (the daemon's working directory is not this one's).
      const source = /^(rootfs|oci):(.+)$/.exec(opts.from);
      const from = source ? `${source[1]}:${daemonPath(client, source[2])}` : opts.from;
      const op = await client.templates.startBuild({ name, from, ...(opts.init ? { init: opts.init } : {}) });
      const t = await followOperation<TemplateView>(client, op, { detach: detached(opts) });
      if (t) process.stdout.write(`template ${t.name} ready: ${humanBytes(t.sizeBytes)}\n`);
    });

  verb(template, 'list', 'list templates')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).templates.list();
      if (opts.json) return printJson(list);
      printTable(['NAME', 'KIND', 'VERSIONS', 'SOURCE', 'SIZE', 'CREATED', 'USED BY'],
        list.map((t) => [t.name, t.kind, t.versions ? t.versions.map((v) => v.version).join(',') : '-', t.source, humanBytes(t.sizeBytes), since(t.createdAt), t.usedBy.length]));
    });

  verb(template, 'inspect', 'show one template')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const t = await clientOf(cmd).templates.inspect(name);
      if (opts.json) return printJson(t);
      const { versions, ...rest } = t;
      printFields({ ...rest, sizeBytes: humanBytes(t.sizeBytes), init: t.init.join(' ') || '-', usedBy: t.usedBy.join(', ') || '-' });
      for (const v of versions ?? []) {
        process.stdout.write(`version ${v.version}: ${v.files} files, ${humanBytes(v.sizeBytes)}, on ${v.bases.join(' + ')}, ${v.digest}, used by ${v.usedBy.join(', ') || '-'}\n`);
      }
    });

  verb(template, 'df', 'logical size of the templates against what the content store holds')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const df = await clientOf(cmd).templates.usage();
      if (opts.json) return printJson(df);
      printTable(['TEMPLATE', 'FILES', 'LOGICAL'], df.templates.map((t) => [t.name, t.files, humanBytes(t.logicalBytes)]));
      const saved = df.logicalBytes ? (1 - df.storedBytes / df.logicalBytes) * 100 : 0;
      process.stdout.write(`\nlogical ${humanBytes(df.logicalBytes)}, stored ${humanBytes(df.storedBytes)} in ${df.objects} objects (${saved.toFixed(0)}% saved)\n`);
    });

  verb(template, 'verify', 're-check every object of the content store against its digest')
    .action(async (_opts: unknown, cmd: Command) => {
      const r = await clientOf(cmd).templates.verify(progressPrinter());
      if (r.bad.length) {
        process.stdout.write(`${r.bad.length} of ${r.checked} objects are damaged:\n${r.bad.join('\n')}\n`);
        throw new FailedPrecondition(`${r.bad.length} damaged objects in the content store: re-import or rebuild the templates that use them`);
      }
      process.stdout.write(`all ${r.checked} objects verified\n`);
    });

  withWaitOptions(verb(template, 'export', 'write a template as one portable file (an operation)'))
    .argument('<name>')
    .requiredOption('-o, --output <file>', "the file to write, on the daemon's host (absolute against a remote)")
    .option('--version <n>', 'application templates: a version other than the newest')
    .action(async (name: string, opts: { output: string; version?: string; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const version = opts.version === undefined ? undefined : Number(opts.version);
      if (version !== undefined && !(Number.isInteger(version) && version > 0)) throw new InvalidArgument(`invalid --version ${JSON.stringify(opts.version)}: give a version number such as 2`);
      const client = clientOf(cmd);
      const r = await followOperation<ExportResult>(client, await client.templates.startExport(name, daemonPath(client, opts.output), version), { detach: detached(opts) });
      if (r) process.stdout.write(`${r.file}: ${humanBytes(r.bytes)}, ${r.digest}\n`);
    });

  withWaitOptions(verb(template, 'import', 'import a template file (every digest is verified; an operation)'))
    .argument('<file>', "a template file on the daemon's host (absolute against a remote)")
    .option('--name <name>', 'import under another name')
    .action(async (file: string, opts: { name?: string; wait?: boolean; detach?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const t = await followOperation<TemplateView>(client, await client.templates.startImport(daemonPath(client, file), opts.name), { detach: detached(opts) });
      if (t) process.stdout.write(`template ${t.name} imported: ${humanBytes(t.sizeBytes)}\n`);
    });

  verb(template, 'rm', 'remove a template (or one version of an application template) that no container uses')
    .argument('<name>')
    .option('--version <n>', 'remove only this version')
    .action(async (name: string, opts: { version?: string }, cmd: Command) => {
      if (opts.version !== undefined && !/^[1-9]\d*$/.test(opts.version)) throw new InvalidArgument(`invalid --version ${JSON.stringify(opts.version)}: give a version number such as 2`);
      const r = await clientOf(cmd).templates.remove(name, opts.version ? Number(opts.version) : undefined);
      process.stdout.write(`template ${name} removed${opts.version ? ` (version ${r.versions.join(', ')})` : ''}\n`);
    });
  return template;
}
