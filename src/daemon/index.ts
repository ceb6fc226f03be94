/**
 * The daemon: opens the state of one data root, makes it agree with what
 * really runs, and serves the API on a unix socket (mode 0600). It owns no
 * container process: stopping or killing it leaves containers running.
 */
import { promises as fsp, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { Containers } from '../containers/index.js';
import { Captures } from '../containers/capture.js';
import { Backups } from '../backups/index.js';
import { Moves } from '../moves/index.js';
import { idMapFor } from '../containers/ids.js';
import { hostd } from '../util/hostd.js';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { pathsFor, VERSION } from '../config/index.js';
import { buildServer } from '../api/server.js';
import { isAlive, Monitor, openRuntime, type InitDeath } from '../runtime/index.js';
import { AccessRecords, BackupRecords, MeterRecords, MoveRecords, Store } from '../state/index.js';
import { Access, QuotaBook } from '../access/index.js';
import { TrafficWarden } from './traffic.js';
import { Meter } from '../metering/index.js';
import { Templates } from '../templates/index.js';
import { ContentStore } from '../store/index.js';
import { Networks } from '../network/index.js';
import { Operations } from '../operations/index.js';
import { detectCgroupDriver, hostCapacity } from '../resources/index.js';
import { Lxcfs } from '../resources/lxcfs.js';
import { Pool } from '../storage/pool.js';
import { run } from '../util/exec.js';
import { reportUndoFailuresTo } from '../util/reverter.js';
import { containersUnreachable, secureDataRoot } from './data-root.js';
import { closeWithTls, ensureCertificate, parseListen, readCertificate, serveTls } from './tls.js';

export interface DaemonOptions {
  root: string;
  socket: string;
  /** The storage driver of new disks (default loop-ext4); existing disks keep theirs. */
  storageDriver?: string;
  /** The OCI runtime that runs the containers (default runc), from RUNTIMES. */
  runtime?: string;
  /** API requests a minute per token (default 600). */
  requestsPerMinute?: number;
  /** Also serve the API over TLS on these addresses (`HOST:PORT`). */
  listen?: string[];
  /** The TLS certificate and key to use instead of the one made in the data root. */
  tlsCert?: string;
  tlsKey?: string;
  log?: (line: string) => void;
}


function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

async function pidAlive(file: string): Promise<number | null> {
  const pid = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
  if (!pid || pid === process.pid) return null;
  return (await isAlive(pid)) ? pid : null;
}

export async function runDaemon(opts: DaemonOptions): Promise<{ stop: () => Promise<void> }> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const paths = pathsFor(opts.root);
  // First: an unknown --storage-driver is refused before anything is made.
  const pool = new Pool(paths.pool, opts.storageDriver || undefined);
  const listen = (opts.listen ?? []).map(parseListen);
  if (!!opts.tlsCert !== !!opts.tlsKey) throw new InvalidArgument('give --tls-cert and --tls-key together, or neither (one is made in the data root)');
  if (opts.tlsCert && !listen.length) throw new InvalidArgument('--tls-cert and --tls-key are the certificate of --listen: give --listen HOST:PORT too');
  // So is an unknown --runtime, or one whose capabilities exclude this host's cgroup layout.
  const monitor = new Monitor(paths.monitorSocket, paths.helpers.monitor);
  const runtime = openRuntime(opts.runtime, { stateRoot: paths.runcRoot, monitor });
  if (/\n/.test(paths.root)) throw new FailedPrecondition('the data root path must not contain a newline');
  for (const [what, file] of Object.entries(paths.helpers)) {
    if (!existsSync(file)) throw new FailedPrecondition(`the native helper ${what} is missing at ${file}: run 'npm run build'`);
  }
  // Started now, so that one that cannot run (its library missing) stops the daemon here, not a start later.
  await hostd().ping();
  await runtime.version();

  const freshBoot = !existsSync(paths.run);
  await fsp.mkdir(paths.run, { recursive: true, mode: 0o700 });
  const pidFile = `${paths.run}/daemon.pid`;
  const other = await pidAlive(pidFile);
  if (other) throw new FailedPrecondition(`another Strata daemon (pid ${other}) already serves the data root ${paths.root}: stop it first`);
  if (await socketAnswers(opts.socket)) throw new FailedPrecondition(`a daemon already listens on ${opts.socket}: stop it, or give this one another --socket`);
  await fsp.writeFile(pidFile, `${process.pid}\n`);

  await secureDataRoot(paths);
  // The certificate before any state is touched: a wrong one stops the start here.
  const tlsFiles = opts.tlsCert && opts.tlsKey ? { cert: opts.tlsCert, key: opts.tlsKey } : paths.tls;
  const tls = !listen.length ? null : tlsFiles === paths.tls ? await ensureCertificate(tlsFiles, listen, log) : await readCertificate(tlsFiles, log);
  // STRATA_DISABLE_IDMAP=1 forces the fallback (tests use it: every kernel here has idmapped mounts).
  const idmapped = process.env.STRATA_DISABLE_IDMAP !== '1'
    && (await run([paths.helpers.idmount, 'check', paths.containers], { allowFailure: true })).status === 0;
  if (!idmapped) {
    log('NOTICE: no idmapped mounts on this kernel: all containers share ONE host id range, and each template gets one id-shifted copy '
      + '(more disk, no page-cache sharing with the content store, weaker isolation between containers); host-linked templates need --privileged');
  }

  const rootUnreachable = await containersUnreachable(paths, idMapFor(paths.root, 0).hostBase);
  if (rootUnreachable) log(`WARNING: ${rootUnreachable}`);

  const store = new Store(paths.db);
  // A rollback step that fails leaves something behind: it is said, never dropped.
  reportUndoFailuresTo(({ what, error }) => {
    const message = `a rollback step${what ? ` (${what})` : ''} failed, so something it should have removed may be left: ${error instanceof Error ? error.message : String(error)}`;
    log(`WARNING: ${message}`);
    try { store.addEvent('rollback-failed', null, message); } catch { /* the log has it */ }
  });
  await monitor.ensureRunning();
  const templates = new Templates(store, paths.templates, new ContentStore(paths.store));
  await templates.cleanScratch();
  const cgroups = detectCgroupDriver();
  const lxcfs = new Lxcfs(paths.run, monitor, paths.helpers.idmount);
  if (!lxcfs.available()) log('NOTICE: lxcfs is not installed: containers will see the host\'s /proc/meminfo, uptime… (run \'npm run quickstart\')');
  else await lxcfs.ensure();
  // Operations the previous daemon was running when it ended are recorded interrupted (each with an event).
  const operations = new Operations(store);
  for (const op of operations.recover()) log(`operation ${op.id} (${op.kind}${op.subject ? ` of ${op.subject}` : ''}) was interrupted by the daemon's end`);
  const networks = new Networks(store.db, { rootId: paths.rootId, runDir: paths.run });
  const access = new Access(new AccessRecords(store.db));
  const quota = new QuotaBook(access.records, (tenant, message) => store.addEvent('quota-refused', tenant, message, tenant));
  const containers = new Containers(paths, store, templates, runtime, { idmapped, capacity: hostCapacity(), cgroups, pool, lxcfs: lxcfs.available() ? lxcfs : null, networks, rootUnreachable, quota });

  for (const line of await containers.reconcile(monitor.takeRecordedDeaths())) log(`reconcile: ${line}`);
  // From now on the monitor tells at once when a container's init ends by itself.
  const onDeath = (death: InitDeath): void => {
    containers.initDied(death).catch((err: Error) => log(`ERROR: handling the end of init ${death.pid}: ${err.message}`));
  };
  if (!(await monitor.watch(onDeath))) log('NOTICE: the container monitor is too old to report exits: restart it with no container running (until then, exits are found every few seconds)');
  for (const death of monitor.takeRecordedDeaths()) onDeath(death);
  const runningRecords = store.listContainers().filter((c) => c.state === 'running');
  const running = new Set(runningRecords.map((c) => c.name));
  const pids = new Map(runningRecords.flatMap((c) => (c.pid ? [[c.name, c.pid] as const] : [])));
  for (const line of await networks.reconcile(running, pids)) {
    log(`reconcile: ${line}`);
    store.addEvent('reconcile', null, line);
  }
  await networks.ensureDefault();
  await containers.finishReboots();
  if (freshBoot) {
    const started = await containers.autostart();
    if (started.length) log(`autostarted: ${started.join(', ')}`);
  }

  // Metering: every container read every 10 s (STRATA_METER_INTERVAL_MS: tests read more often);
  // after each reading, the tenants' monthly traffic against their plans.
  const warden = new TrafficWarden({
    records: access.records,
    usedBytes: (tenant, month) => { const { total } = meter.ledger(tenant, month); return total.netRxBytes + total.netTxBytes; },
    throttle: (name, bits) => networks.throttle(name, bits),
    throttled: (name) => networks.bandwidth(name).throttled !== null,
    stopTenant: (tenant) => containers.stopTenant(tenant),
    event: (kind, tenant, message) => { log(message); store.addEvent(kind, tenant, message, tenant); },
    log,
  });
  // Scratch of backups and restores lives beside the store (restored files are linked from it).
  const backups = new Backups(containers, templates, join(paths.root, 'scratch'), {
    tenantExists: (name) => access.records.getTenant(name) !== undefined,
    checkBackup: (tenant, bytes) => quota.checkBackup(tenant, bytes),
  }, new BackupRecords(store.db));
  await backups.cleanScratch();
  const moveLease = Number(process.env.STRATA_MOVE_LEASE_MS) || undefined;
  const moves = new Moves(new MoveRecords(store.db), containers, templates, backups, join(paths.root, 'scratch'), log, { leaseMs: moveLease });
  await moves.settleAll();
  const meter: Meter = new Meter(new MeterRecords(store.db), {
    read: (o) => containers.usageReadings(o),
    tenantOf: (name) => store.getContainer(name)?.tenant ?? null,
    intervalMs: Number(process.env.STRATA_METER_INTERVAL_MS) || undefined,
    log,
    // After each reading: the traffic quota on fresh figures, then the snapshot schedules that are due.
    afterTick: async () => { await warden.check(); await containers.takeScheduledSnapshots(); await moves.expireLeases(); await moves.settlePending(); },
  });
  meter.start();

  const app = await buildServer({
    containers, captures: new Captures(containers, templates), backups, moves, templates, operations, store, networks, access, quota, meter, log, requestsPerMinute: opts.requestsPerMinute,
    info: { version: VERSION, root: paths.root, rootId: paths.rootId, socket: opts.socket, pid: process.pid, idmappedMounts: idmapped, runcRoot: paths.runcRoot, cgroupParent: paths.cgroupParent, storageDriver: pool.driver.name, runtime: runtime.name,
      tls: tls ? { listen: listen.map((l) => `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`), fingerprint: tls.fingerprint, certificate: tlsFiles.cert } : null },
  });
  await fsp.mkdir(dirname(opts.socket), { recursive: true, mode: 0o755 });
  await fsp.rm(opts.socket, { force: true });
  const oldMask = process.umask(0o177);
  try {
    await app.listen({ path: opts.socket });
  } finally {
    process.umask(oldMask);
  }
  await fsp.chmod(opts.socket, 0o600);
  const tlsServers = tls ? await serveTls(app, listen, tls).catch(async (err: unknown) => { await app.close(); throw err; }) : [];
  if (tls) log(`serving the API over TLS on ${listen.map((l) => `${l.host}:${l.port}`).join(', ')}; certificate SHA-256 ${tls.fingerprint}`);
  // Housekeeping: OOM events and CPU samples, init deaths the watch missed, and lxcfs supervision.
  const housekeeping = async (): Promise<void> => {
    // Deaths the watch missed (a dropped connection): the monitor's record has them all.
    for (const death of monitor.takeRecordedDeaths()) onDeath(death);
    await containers.sample();
    await networks.sync();
    if (lxcfs.available() && (await lxcfs.ensure())) {
      log('lxcfs was not running: restarted it and re-bound its files in running containers');
      store.addEvent('lxcfs-restarted', null, 'lxcfs restarted; its files re-bound in running containers');
      await containers.rebindLxcfs();
    }
  };
  // Every 5 s, and less often with many containers (its work grows with them; starts must not wait on it).
  let trim: NodeJS.Timeout;
  const schedule = (): void => {
    const running = store.listContainers().filter((c) => c.state === 'running').length;
    trim = setTimeout(() => {
      housekeeping().catch((err: Error) => log(`housekeeping: ${err.message}`)).finally(() => { if (!stopping) schedule(); });
    }, 5_000 + 20 * running);
    trim.unref();
  };
  schedule();
  log(`strata daemon ${VERSION} serving ${paths.root} on ${opts.socket} (pid ${process.pid})`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearTimeout(trim);
      monitor.unwatch();
      // Running operations are cancelled and recorded interrupted, so that their streams end and close does not wait on them.
      await operations.shutdown();
      // A tick under way is written whole; the next start's first reading covers the time between.
      await meter.stop();
      await closeWithTls(app, tlsServers);
      await fsp.rm(opts.socket, { force: true });
      // lxcfs and the monitor stay while containers run: they serve them and are their parent.
      if (!store.listContainers().some((c) => c.state === 'running')) {
        await lxcfs.stop();
        await monitor.quit();
      }
      store.close();
      await fsp.rm(pidFile, { force: true });
      log('strata daemon stopped; running containers keep running');
    })();
    return stopping;
  };
  return { stop };
}

