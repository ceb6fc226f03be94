import type { Command } from 'commander';
import type { TemplateView } from '../../templates/index.js';
import { clientOf, humanBytes, printFields, printJson, printTable, progressPrinter, since, verb } from '../context.js';

export function register(program: Command): void {
  const template = program.command('template').description('build, list, inspect and remove templates');

  verb(template, 'build', 'build an OS template')
    .argument('<name>')
    .requiredOption('--from <source>', 'busybox | debootstrap[:SUITE] | host | rootfs:FILE | oci:PATH')
    .action(async (name: string, opts: { from: string }, cmd: Command) => {
      const t = await clientOf(cmd).stream<TemplateView>('POST', '/v1/templates', { name, from: opts.from }, progressPrinter());
      process.stdout.write(`template ${t.name} ready: ${humanBytes(t.sizeBytes)}\n`);
    });

  verb(template, 'list', 'list templates')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).call<TemplateView[]>('GET', '/v1/templates');
      if (opts.json) return printJson(list);
      printTable(['NAME', 'KIND', 'SOURCE', 'SIZE', 'CREATED', 'USED BY'],
        list.map((t) => [t.name, t.kind, t.source, humanBytes(t.sizeBytes), since(t.createdAt), t.usedBy.length]));
    });

  verb(template, 'inspect', 'show one template')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const t = await clientOf(cmd).call<TemplateView>('GET', `/v1/templates/${encodeURIComponent(name)}`);
      if (opts.json) return printJson(t);
      printFields({ ...t, sizeBytes: humanBytes(t.sizeBytes), init: t.init.join(' '), usedBy: t.usedBy.join(', ') || '-' });
    });

  verb(template, 'rm', 'remove a template that no container uses')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).call('DELETE', `/v1/templates/${encodeURIComponent(name)}`);
      process.stdout.write(`template ${name} removed\n`);
    });
}
