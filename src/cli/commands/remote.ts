/** `strata remote …`: the daemons this `strata` drives over the network, their tokens and pinned certificates. */
import type { Command } from 'commander';
import { Client, normalizeFingerprint, tlsHandshake } from '../../api/client.js';
import { FailedPrecondition, InvalidArgument } from '../../errors/index.js';
import { addRemote, checkNewRemote, chosenRemote, LOCAL, readRemotes, removeRemote, switchRemote } from '../remotes.js';
import { printJson, printTable, verb } from '../context.js';

async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function register(program: Command): void {
  const remote = program.command('remote').description('remote daemons: add one (its certificate is pinned), list, switch, remove');

  verb(remote, 'add', "add a remote daemon (one run with 'strata daemon --listen'): its certificate's fingerprint is shown and pinned")
    .argument('<name>')
    .argument('<url>', 'https://HOST:PORT')
    .option('--token <token>', "an API token of a user on that host ('strata token create' there); default $STRATA_TOKEN, which keeps it out of the process list and the shell's history")
    .option('--accept-certificate [fingerprint]', 'accept the certificate without asking (scripts); with a fingerprint, only that one')
    .action(async (name: string, url: string, given: { token?: string; acceptCertificate?: string | boolean }) => {
      const opts = { ...given, token: given.token || process.env.STRATA_TOKEN || '' };
      if (!opts.token) throw new InvalidArgument("give the remote's API token with --token TOKEN or $STRATA_TOKEN (make one there with 'strata token create')");
      checkNewRemote(name, url);
      // A malformed fingerprint is refused before anything is contacted.
      const expected = typeof opts.acceptCertificate === 'string' ? normalizeFingerprint(opts.acceptCertificate) : null;
      const { socket, peer } = await tlsHandshake(url);
      socket.destroy();
      process.stderr.write(`the certificate of ${url}:\n  subject      ${peer.subject}\n  valid until  ${peer.validTo}\n  SHA-256      ${peer.fingerprint}\n`);
      if (expected !== null && expected !== peer.fingerprint) {
        throw new FailedPrecondition(`the certificate of ${url} is ${peer.fingerprint}, not the ${expected} given with --accept-certificate: nothing was added`);
      }
      if (!opts.acceptCertificate) {
        if (!process.stdin.isTTY) throw new FailedPrecondition('compare the fingerprint above with the one the daemon logged at its start (or `strata info` there), then add --accept-certificate (not asked: stdin is not a terminal)');
        if (!(await confirm('Is this the fingerprint the daemon logged at its start? Pin it? [y/N] '))) throw new FailedPrecondition('not pinned: nothing was added');
      }
      // The token is tried before anything is written: a wrong one leaves the file as it was.
      const me = await new Client({ url, token: opts.token, fingerprint: peer.fingerprint, name }).me();
      addRemote(name, { url, token: opts.token, fingerprint: peer.fingerprint, addedAt: new Date().toISOString() });
      process.stdout.write(`remote ${name} added: ${url} as ${me.user} (${me.role}${me.tenant ? ` of ${me.tenant}` : ''}); use it with --remote ${name} or 'strata remote switch ${name}'\n`);
    });

  verb(remote, 'list', 'list the remotes; * marks the current one')
    .option('--json', 'print JSON (without the tokens)')
    .action((opts: { json?: boolean }) => {
      const f = readRemotes();
      const rows = [{ name: LOCAL, url: 'unix socket', fingerprint: null as string | null, addedAt: null as string | null }, ...Object.entries(f.remotes).map(([n, r]) => ({ name: n, url: r.url, fingerprint: r.fingerprint, addedAt: r.addedAt }))];
      if (opts.json) return printJson(rows.map((r) => ({ ...r, current: r.name === f.current })));
      printTable(['NAME', 'URL', 'CERTIFICATE (SHA-256)', 'CURRENT'], rows.map((r) => [r.name, r.url, r.fingerprint ? `${r.fingerprint.slice(0, 23)}…` : '-', r.name === f.current ? '*' : '']));
    });

  verb(remote, 'switch', `make a remote the default of every command ('${LOCAL}': this host's socket)`)
    .argument('<name>')
    .action((name: string) => {
      switchRemote(name);
      process.stdout.write(`commands now go to ${name}\n`);
    });

  verb(remote, 'remove', 'forget a remote (its token stays valid on the host: revoke it there)')
    .alias('rm')
    .argument('<name>')
    .action((name: string) => {
      removeRemote(name);
      process.stdout.write(`remote ${name} removed\n`);
    });

  verb(remote, 'show', 'the remote commands go to now, and who you are there')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean; remote?: string }, cmd: Command) => {
      const r = chosenRemote(cmd.optsWithGlobals<{ remote?: string }>().remote);
      if (!r) { process.stdout.write(`${LOCAL} (the unix socket)\n`); return; }
      const me = await new Client({ url: r.url, token: r.token, fingerprint: r.fingerprint, name: r.name }).me();
      if (opts.json) return printJson({ name: r.name, url: r.url, fingerprint: r.fingerprint, user: me.user, role: me.role, tenant: me.tenant });
      process.stdout.write(`${r.name}: ${r.url} as ${me.user} (${me.role}${me.tenant ? ` of ${me.tenant}` : ''})\n`);
    });
}
