import type { Command } from 'commander';
import { resolveRoot, resolveSocket } from '../../config/index.js';
import { InvalidArgument } from '../../errors/index.js';

function requestsPerMinuteOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgument(`invalid --rate-limit ${JSON.stringify(text)}: give a number of requests a minute, 1 or more`);
  return n;
}

export function register(program: Command): void {
  program
    .command('daemon')
    .description('run the Strata daemon in the foreground')
    .option('--root <dir>', 'data root (default: $STRATA_ROOT or /var/lib/strata)')
    .option('--socket <path>', 'API socket (default: $STRATA_SOCKET or /run/strata/strata.sock)')
    .option('--storage-driver <name>', 'driver of new disks (--disk): loop-ext4 (default) or btrfs; $STRATA_STORAGE_DRIVER')
    .option('--runtime <name>', 'OCI runtime that runs the containers: runc (default) or crun (cgroup v2 hosts); $STRATA_RUNTIME')
    .option('--listen <host:port>', 'also serve the API over TLS here (repeatable), e.g. 0.0.0.0:8443; $STRATA_LISTEN (comma-separated)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--tls-cert <file>', 'the TLS certificate (PEM) of --listen (default: one made in the data root at the first start)')
    .option('--tls-key <file>', 'its private key (PEM)')
    .option('--rate-limit <n>', 'API requests a minute per token (or per address without one); root on the socket is not limited (default 600); $STRATA_RATE_LIMIT')
    .option('--debug', 'show stack traces of errors')
    .action(async (_opts: unknown, cmd: Command) => {
      // --socket may also stand before the verb (`strata --socket X daemon`).
      const opts = cmd.optsWithGlobals<{ root?: string; socket?: string; storageDriver?: string; runtime?: string; rateLimit?: string; listen?: string[]; tlsCert?: string; tlsKey?: string }>();
      // Loaded only here: the daemon's modules (Fastify, SQLite) would slow every other verb.
      const { runDaemon } = await import('../../daemon/index.js');
      const daemon = await runDaemon({ root: resolveRoot(opts.root), socket: resolveSocket(opts.socket), storageDriver: opts.storageDriver ?? process.env.STRATA_STORAGE_DRIVER, runtime: opts.runtime ?? process.env.STRATA_RUNTIME, requestsPerMinute: requestsPerMinuteOf(opts.rateLimit ?? process.env.STRATA_RATE_LIMIT),
        listen: opts.listen ?? process.env.STRATA_LISTEN?.split(',').filter(Boolean), tlsCert: opts.tlsCert, tlsKey: opts.tlsKey });
      const stop = (): void => { void daemon.stop().then(() => process.exit(0)); };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
