/**
 * The wire contract: every request and answer of the HTTP API as a TypeBox schema, defined once.
 * The routes validate and type their input with these (no casts), Fastify serializes answers by
 * them, the OpenAPI document is generated from them, and the client and the CLI use their static
 * types (`import type`: the CLI loads no schema code). Answers keep fields a schema does not name
 * (`additionalProperties: true`), so a field added to a service's view is never silently dropped;
 * `contract.test.ts` checks that every service view fits its schema.
 */
import { Type, type Static, type TSchema, type TProperties } from 'typebox';

/** An answer object: named fields typed, any other field passed through. */
const Answer = <P extends TProperties>(properties: P, description?: string) =>
  Type.Object(properties, { additionalProperties: true, ...(description ? { description } : {}) });
/** A request body: named fields only; a misspelt field is refused (400). */
const Body = <P extends TProperties>(properties: P) => Type.Object(properties, { additionalProperties: false });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Strings = Type.Array(Type.String());
const Version = Type.Integer({ minimum: 1, description: 'an application template version (default: the newest)' });

// Path parameters and queries

export const NameParams = Type.Object({ name: Type.String() });
export const AppParams = Type.Object({ name: Type.String(), template: Type.String() });
export const SnapshotParams = Type.Object({ name: Type.String(), snapshot: Type.String() });
export const SessionParams = Type.Object({ name: Type.String(), session: Type.String({ description: 'what starting the interactive capture answered' }) });
export const PortParams = Type.Object({ name: Type.String(), spec: Type.String() });
export const VersionQuery = Type.Object({ version: Type.Optional(Version) });
export const BriefQuery = Type.Object({ brief: Type.Optional(Type.Boolean({ description: 'only the columns of `strata list`' })) });
export const ForceQuery = Type.Object({ force: Type.Optional(Type.Boolean()) });
export const FollowQuery = Type.Object({ follow: Type.Optional(Type.Boolean()) });
export const ProcessesQuery = Type.Object({ container: Type.Optional(Type.String()) });
const OperationState = Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled'), Type.Literal('interrupted')]);
export const AsyncQuery = Type.Object({
  async: Type.Optional(Type.Boolean({ description: 'answer 202 with the operation instead of a stream (as the header `Prefer: respond-async` does)' })),
});
export const OperationParams = Type.Object({ id: Type.String({ description: 'the operation id (op-…), or a start of it naming only one' }) });
export const OperationsQuery = Type.Object({
  state: Type.Optional(OperationState),
  kind: Type.Optional(Type.String({ description: 'template-build, template-capture, template-export, template-import, store-verify, container-create' })),
});
export type OperationsQuery = Static<typeof OperationsQuery>;
export const EventsQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'only events after this event id (an SSE client reconnecting sends Last-Event-ID instead)' })),
  after: Type.Optional(Type.String({ format: 'date-time', description: 'only events at or after this time (ISO 8601)' })),
  container: Type.Optional(Type.String({ description: 'only events about this container (or other subject)' })),
  kind: Type.Optional(Type.String({ description: 'only these kinds, comma-separated (docs/cli.md lists them)' })),
  follow: Type.Optional(Type.Boolean({ description: 'keep the answer open as a server-sent event stream (text/event-stream)' })),
});
export type EventsQuery = Static<typeof EventsQuery>;

// Templates

export const BuildTemplateRequest = Body({
  name: Type.String(),
  from: Type.String({ description: '`busybox`, `debootstrap:SUITE` or a directory' }),
  init: Type.Optional(Type.String({ description: 'systemd (default) or sysvinit, for debootstrap' })),
});
export type BuildTemplateRequest = Static<typeof BuildTemplateRequest>;

const CaptureFields = {
  bases: Type.Array(Type.String(), { description: 'the OS template first, then application templates to capture over' }),
  nets: Type.Optional(Strings),
  excludes: Type.Optional(Strings),
  command: Type.Optional(Strings),
  script: Type.Optional(Type.String()),
  interactive: Type.Optional(Type.Boolean()),
};
/** POST /v1/templates/NAME/captures: the name is the path's. */
export const CaptureBody = Body(CaptureFields);
export type CaptureBody = Static<typeof CaptureBody>;
/** The older POST /v1/templates-capture, name in the body. */
export const CaptureRequest = Body({ name: Type.String(), ...CaptureFields });
export type CaptureRequest = Static<typeof CaptureRequest>;

export const ExportRequest = Body({ file: Type.String({ description: 'a path on the daemon host' }), version: Type.Optional(Version) });
export type ExportRequest = Static<typeof ExportRequest>;
export const ImportRequest = Body({ file: Type.String({ description: 'a path on the daemon host' }), name: Type.Optional(Type.String()) });
export type ImportRequest = Static<typeof ImportRequest>;

const AppVersionView = Answer({
  version: Type.Integer(), digest: Type.String(), sizeBytes: Type.Number(), files: Type.Integer(),
  createdAt: Type.String(), bases: Strings, usedBy: Strings,
  adds: Answer({ users: Strings, groups: Strings, packages: Strings }, 'the users, groups and Debian packages the version adds to its bases'),
});
export const TemplateView = Answer({
  name: Type.String(),
  kind: Type.Union([Type.Literal('os'), Type.Literal('app')]),
  source: Type.String(),
  init: Strings,
  stopSignal: Type.String(),
  sizeBytes: Type.Number(),
  meta: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String(),
  path: Type.String(),
  usedBy: Strings,
  versions: Type.Optional(Type.Array(AppVersionView)),
}, 'an OS or application template');
export type TemplateView = Static<typeof TemplateView>;

export const TemplateDf = Answer({
  templates: Type.Array(Answer({ name: Type.String(), files: Type.Integer(), logicalBytes: Type.Number() })),
  logicalBytes: Type.Number({ description: "sum of every template's file sizes, as if each had its own copy" }),
  storedBytes: Type.Number({ description: 'what the objects of all templates take, each stored once' }),
  objects: Type.Integer(),
}, 'disk use of the templates and what sharing saves');
export type TemplateDf = Static<typeof TemplateDf>;

export const RemovedTemplate = Answer({ removed: Type.String(), versions: Type.Array(Type.Integer()) });

const CaptureSummary = Answer({ files: Type.Integer(), bytes: Type.Number(), deletions: Type.Integer(), keys: Type.Integer(), skipped: Strings });
export const CaptureResult = Answer({
  template: Type.String(), version: Type.Integer(), digest: Type.String(), summary: CaptureSummary,
  seconds: Type.Number(), installerSeconds: Type.Number(),
}, 'a captured application template version');
export type CaptureResult = Static<typeof CaptureResult>;
export const CaptureSession = Answer({ session: Type.String(), container: Type.String() }, 'an interactive capture waiting for its shell to end');
export type CaptureSession = Static<typeof CaptureSession>;

// Containers

const Limit = Type.Union([Type.String(), Type.Number()]);
const LimitsRequest = Type.Record(Type.String(), Limit, { description: 'limits as the CLI gives them: sizes and rates as text ("512M", "none") or numbers, keyed in camelCase' });

export const CreateContainerRequest = Body({
  name: Type.Optional(Type.String({ description: 'the name (required without `names`); with `count`, the stem of NAME-1 … NAME-N' })),
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'a bulk create: NAME-1 … NAME-N, as an operation (see docs/operations.md)' })),
  names: Type.Optional(Type.Array(Type.String(), { minItems: 1, maxItems: 1000, description: 'a bulk create of these names, as an operation (instead of `name`)' })),
  template: Type.String(),
  hostname: Type.Optional(Type.String()),
  privileged: Type.Optional(Type.Boolean()),
  autostart: Type.Optional(Type.Boolean()),
  limits: Type.Optional(LimitsRequest),
  nets: Type.Optional(Type.Array(Type.String(), { description: 'networks to join (default: `default`)' })),
  ip: Type.Optional(Type.String({ description: 'a static address on the first network' })),
  noNet: Type.Optional(Type.Boolean()),
  ports: Type.Optional(Type.Array(Type.String(), { description: 'published ports, HOST:CONTAINER[/tcp|udp]' })),
  netIn: Type.Optional(Type.String()),
  netOut: Type.Optional(Type.String()),
  apps: Type.Optional(Type.Array(Type.String(), { description: 'application templates to attach, bottom first' })),
  force: Type.Optional(Type.Boolean({ description: 'attach --app templates even when their bases do not match' })),
  tenant: Type.Optional(Type.String({ description: "the owning tenant (a host administrator's choice; a tenant's users make their own tenant's)" })),
});
export type CreateContainerRequest = Static<typeof CreateContainerRequest>;

export const ScheduleRequest = Body({
  every: Type.Union([Type.String(), Type.Integer()], { description: 'the interval: a duration such as 6h or 1d, or seconds (10 or more)' }),
  keep: Type.Integer({ minimum: 1, description: 'how many scheduled snapshots to keep (the oldest go)' }),
});
export const ScheduleView = Answer({
  container: Type.String(), everySeconds: Type.Integer(), keep: Type.Integer(),
  lastAt: Nullable(Type.String({ description: 'when the last scheduled snapshot was taken or tried' })),
}, "a container's snapshot schedule");
export type ScheduleView = Static<typeof ScheduleView>;
export const ScheduleAnswer = Nullable(ScheduleView);
export const PublishRequest = Body({ template: Type.String({ description: 'the application template to make (or to add a version to)' }) });
export const BackupRequest = Body({
  file: Type.Optional(Type.String({ description: 'where to write the backup: an absolute path on the daemon host (host administrators only); left out: the daemon keeps it with the container' })),
  name: Type.Optional(Type.String({ description: 'a kept backup\'s name (default bk-YYYYMMDD-HHMMSS)' })),
  withTemplates: Type.Optional(Type.Boolean({ description: 'carry its OS and application templates too, so that a host without them can restore it' })),
  since: Type.Optional(Type.String({ description: 'an earlier backup of the same container to be incremental on: with file, a path on the daemon host; without, a kept backup\'s name' })),
});
export type BackupRequest = Static<typeof BackupRequest>;
export const BackupResult = Answer({
  file: Type.String(), bytes: Type.Number(), digest: Type.String({ description: 'the backup digest (what an incremental backup names its parent by)' }),
  parent: Nullable(Type.String({ description: 'the digest of the backup this one is incremental on' })),
  files: Type.Integer(), logicalBytes: Type.Number(), templates: Strings, frozenMs: Nullable(Type.Number()), seconds: Type.Number(),
}, 'a backup written');
export type BackupResult = Static<typeof BackupResult>;
export const KeptBackup = Answer({
  container: Type.String(), name: Type.String(), bytes: Type.Number(), digest: Type.String(),
  parent: Nullable(Type.String({ description: 'the kept backup it is incremental on' })), templates: Strings, createdAt: Type.String(),
}, 'a backup the daemon keeps with the container');
export type KeptBackup = Static<typeof KeptBackup>;
export const BackupParams = Type.Object({ name: Type.String(), backup: Type.String() });
export const KeptRestoreRequest = Body({
  name: Type.String({ description: 'the new container' }),
  noPorts: Type.Optional(Type.Boolean({ description: 'leave its published ports out (the original still has them)' })),
});
export const RestoreRequest = Body({
  file: Type.String({ description: 'a backup file: an absolute path on the daemon host' }),
  name: Type.Optional(Type.String({ description: "the new container's name (default: the backed-up one's)" })),
  tenant: Type.Optional(Nullable(Type.String({ description: "its owner (default: the backup's); null: the host's own" }))),
  parents: Type.Optional(Type.Array(Type.String(), { description: 'the backups an incremental one is made on, when they are not beside it under their recorded names' })),
  noPorts: Type.Optional(Type.Boolean({ description: 'leave its published ports out (a copy beside the original)' })),
  keepAddress: Type.Optional(Type.Boolean({ description: "keep the backed-up container's address and MAC on its first network (it must be free here)" })),
});
export type RestoreRequest = Static<typeof RestoreRequest>;
export const MoveRequest = Body({
  to: Body({
    url: Type.String({ description: "the target daemon's https:// address" }),
    token: Type.String({ description: 'an API token of an administrator there' }),
    fingerprint: Type.String({ description: "the SHA-256 fingerprint of its certificate (as 'strata remote add' pinned it)" }),
  }),
  live: Type.Optional(Type.Boolean({ description: 'move it running, without a stop (CRIU; refused where it cannot run, with the reason)' })),
});
export type MoveRequest = Static<typeof MoveRequest>;
export const MoveResult = Answer({
  container: Type.String(), to: Type.String(),
  rounds: Type.Array(Answer({ bytes: Type.Number(), seconds: Type.Number() }), { description: 'each backup sent, the last one with the container stopped' }),
  templates: Strings, downtimeMs: Nullable(Type.Number({ description: 'from the stop here to the start there' })), address: Nullable(Type.String()),
}, 'a container moved');
export type MoveResult = Static<typeof MoveResult>;
export const MoveBeginRequest = Body({ container: Type.String(), digests: Type.Array(Type.String(), { maxItems: 300, description: 'the template digests it is made on' }) });
export type MoveBeginRequest = Static<typeof MoveBeginRequest>;
export const MoveBegun = Answer({ id: Type.String(), missing: Type.Array(Type.String(), { description: 'the digests this host lacks: send those templates' }), leaseMs: Type.Integer() });
export type MoveBegun = Static<typeof MoveBegun>;
export const MoveFinishRequest = Body({ files: Type.Array(Type.String(), { description: 'the backups sent, oldest first' }), start: Type.Boolean() });
export type MoveFinishRequest = Static<typeof MoveFinishRequest>;
export const MoveStatus = Answer({ id: Type.String(), container: Type.String(), phase: Type.String() });
export type MoveStatus = Static<typeof MoveStatus>;
export const MoveParams = Type.Object({ id: Type.String() });
export const MoveFileParams = Type.Object({ id: Type.String(), file: Type.String() });
export const MoveFileReceived = Answer({ file: Type.String(), bytes: Type.Number() });
export const RenameRequest = Body({ name: Type.String({ description: 'the new name' }) });
export const CloneRequest = Body({ name: Type.String({ description: 'the new container' }) });
export const SnapshotRequest = Type.Union([Type.Null(), Body({ name: Type.Optional(Type.String({ description: 'default: snap-YYYYMMDD-HHMMSS (UTC)' })) })]);
export const SnapshotView = Answer({
  container: Type.String(), name: Type.String(),
  method: Type.Union([Type.Literal('volume'), Type.Literal('copy')], { description: "'volume': the disk driver's instant snapshot (btrfs); 'copy': the files copied" }),
  apps: Type.Array(Answer({ template: Type.String(), version: Type.Integer() }), { description: 'the application templates attached when it was taken (a restore needs the same)' }),
  sizeBytes: Type.Number({ description: "its files' size on disk" }),
  frozenMs: Nullable(Type.Number({ description: 'how long the running container was frozen for it; null: it was not running' })),
  createdAt: Type.String(),
}, "a snapshot of a container's own files");
export type SnapshotView = Static<typeof SnapshotView>;

export const AttachRequest = Body({ template: Type.String(), force: Type.Optional(Type.Boolean()), version: Type.Optional(Version) });
export type AttachRequest = Static<typeof AttachRequest>;
export const UpgradeRequest = Type.Union([Body({ force: Type.Optional(Type.Boolean()) }), Type.Null()]);
export const StopRequest = Type.Union([Body({ timeout: Type.Optional(Type.Number({ description: 'seconds before SIGKILL (default 10)' })) }), Type.Null()]);
export const ExecRequest = Body({
  tty: Type.Optional(Type.Boolean()), user: Type.Optional(Type.String()), cwd: Type.Optional(Type.String()),
  env: Type.Optional(Type.Array(Type.String(), { description: 'NAME=VALUE' })), args: Strings,
});
export type ExecRequest = Static<typeof ExecRequest>;
export const LimitsUpdate = Body({ limits: LimitsRequest });
export type LimitsUpdate = Static<typeof LimitsUpdate>;
export const PortRequest = Body({ spec: Type.String({ description: 'HOST:CONTAINER[/tcp|udp]' }) });

const ContainerState = Type.Union([Type.Literal('created'), Type.Literal('running'), Type.Literal('stopped')]);
const N = Nullable(Type.Number());
const Limits = Answer({
  cpus: Type.Optional(N), cpuWeight: Type.Optional(N), cpuset: Type.Optional(Nullable(Type.String())),
  memory: Type.Optional(N), swap: Type.Optional(N), pids: Type.Optional(N), ioWeight: Type.Optional(N),
  ioReadBps: Type.Optional(N), ioWriteBps: Type.Optional(N), ioReadIops: Type.Optional(N), ioWriteIops: Type.Optional(N),
  disk: Type.Optional(N),
}, 'limits in bytes, CPUs and operations; null or absent: none');

export const PortView = Answer({
  container: Type.String(), hostPort: Type.Integer(), containerPort: Type.Integer(),
  proto: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  address: Nullable(Type.String({ description: "the container's address on its first network" })), spec: Type.String(),
});
export type PortView = Static<typeof PortView>;

export const ContainerView = Answer({
  name: Type.String(),
  state: ContainerState,
  pid: Nullable(Type.Integer()),
  template: Type.String(),
  hostname: Type.String(),
  privileged: Type.Boolean(),
  autostart: Type.Boolean(),
  rootfs: Type.String(),
  privateArea: Type.String(),
  consoleLog: Type.String(),
  idMap: Nullable(Answer({ hostBase: Type.Integer(), size: Type.Integer() })),
  limits: Limits,
  adapters: Type.Array(Answer({ network: Type.String(), ifname: Type.String(), address: Type.String(), gateway: Type.String(), mac: Type.String() })),
  ports: Type.Array(PortView),
  apps: Type.Array(Answer({ template: Type.String(), version: Type.Integer(), position: Type.Integer(), live: Type.Boolean(), attachedAt: Type.String() })),
  netIn: Nullable(Type.String()),
  netOut: Nullable(Type.String()),
  throttled: Type.Optional(Nullable(Type.String())),
  createdAt: Type.String(),
  startedAt: Nullable(Type.String()),
  stoppedAt: Nullable(Type.String()),
  lastExit: Nullable(Answer({ status: Nullable(Type.Integer()), signal: Nullable(Type.String()), at: Type.String(), byItself: Type.Boolean() })),
  tenant: Nullable(Type.String({ description: 'the tenant that owns it; null: the host' })),
}, 'a container');
export type ContainerView = Static<typeof ContainerView>;

/** `GET /v1/containers?brief=true`: the columns of `strata list`. */
export const BriefView = Answer({
  name: Type.String(), state: ContainerState, pid: Nullable(Type.Integer()), template: Type.String(), hostname: Type.String(), startedAt: Nullable(Type.String()),
  tenant: Nullable(Type.String()),
});
export type BriefView = Static<typeof BriefView>;

export const ContainerStats = Answer({
  name: Type.String(), state: ContainerState,
  cpuSeconds: Type.Number(), cpuPercent: N, memoryBytes: N, memoryLimitBytes: N, memoryPeakBytes: N,
  pids: N, pidsLimit: N, ioReadBytes: Type.Number(), ioWriteBytes: Type.Number(), ioReadOps: Type.Number(), ioWriteOps: Type.Number(),
  diskUsedBytes: N, diskLimitBytes: N, snapshotBytes: Type.Number({ description: 'what its snapshots take beside its disk (their size when taken)' }), oomKills: Type.Number(),
  netRxBytes: Type.Number(), netTxBytes: Type.Number(), netRxPackets: Type.Number(), netTxPackets: Type.Number(),
}, 'what a container uses now');
export type ContainerStats = Static<typeof ContainerStats>;

export const AttachReport = Answer({
  container: Type.String(), template: Type.String(), version: Type.Integer(), position: Type.Integer(),
  live: Type.Boolean({ description: 'attached to a running container' }),
  filesCopied: Type.Integer(), bytesCopied: Type.Number(),
  conflicts: Type.Array(Type.String(), { description: 'keys the container had changed itself: its value was kept' }),
  remaps: Type.Array(Type.String(), { description: 'users and groups given another id than in the template' }),
  kept: Type.Array(Type.String(), { description: "paths where the container's own entry was kept" }),
  warnings: Type.Array(Type.String(), { description: 'bases that do not match (attached with --force)' }),
  milliseconds: Type.Number(),
}, 'what attaching an application template did');
export type AttachReport = Static<typeof AttachReport>;
export const UpgradeReport = Answer({ from: Type.Integer(), to: Type.Integer(), conflicts: Strings, remaps: Strings });
export type UpgradeReport = Static<typeof UpgradeReport>;
export const DetachReport = Answer({ conflicts: Strings });
export type DetachReport = Static<typeof DetachReport>;

export const Argv = Answer({ argv: Type.Array(Type.String(), { description: 'the program to run on the daemon host' }) });
export type Argv = Static<typeof Argv>;
export const ConsolePlan = Answer({ monitorSocket: Type.String(), consoleLog: Type.String() });
export type ConsolePlan = Static<typeof ConsolePlan>;

export const ProcessView = Answer({ container: Type.String(), pid: Type.Integer({ description: 'on the host' }), cpid: Type.Integer({ description: "in the container's pid namespace" }), user: Type.String(), command: Type.String() }, 'a process of a container');
export type ProcessView = Static<typeof ProcessView>;
export const PoolView = Answer({
  driver: Type.String({ description: 'the driver of new volumes' }),
  capabilities: Answer({ quota: Type.Boolean(), growOnline: Type.Boolean(), shrinkOnline: Type.Boolean(), snapshots: Type.Boolean(), dfShowsLimit: Type.Boolean() }),
  volumesByDriver: Type.Record(Type.String(), Type.Integer()),
  path: Type.String(), volumes: Type.Integer(),
  provisionedBytes: Type.Number(), usedBytes: Type.Number(), allocatedBytes: Type.Number(),
  hostSizeBytes: Type.Number(), hostFreeBytes: Type.Number(),
}, 'the storage pool of the private areas');
export type PoolView = Static<typeof PoolView>;

// Networks

export const CreateNetworkRequest = Body({
  name: Type.String(), subnet: Type.String({ description: 'CIDR, e.g. 10.88.0.0/24' }), gateway: Type.Optional(Type.String()),
  nat: Type.Optional(Type.Boolean({ description: 'NAT to the host\'s addresses (bridge; default true)' })), isolated: Type.Optional(Type.Boolean()),
  driver: Type.Optional(Type.String({ description: 'bridge (default) or macvlan' })),
  parent: Type.Optional(Type.String({ description: "macvlan: the host interface whose segment the network joins" })),
});
export type CreateNetworkRequest = Static<typeof CreateNetworkRequest>;
export const NetworkView = Answer({
  name: Type.String(), subnet: Type.String(), gateway: Type.String(), nat: Type.Boolean(), isolated: Type.Boolean(),
  bridge: Type.String({ description: "the host bridge ('' for a driver that makes none)" }),
  driver: Type.String(), parent: Nullable(Type.String()), containers: Strings, createdAt: Type.String(),
}, 'a network');
export type NetworkView = Static<typeof NetworkView>;

// System

const TlsInfo = Answer({
  listen: Type.Array(Type.String(), { description: 'the addresses of --listen, HOST:PORT' }),
  fingerprint: Type.String({ description: "the SHA-256 fingerprint of its certificate (AB:CD:…): what 'strata remote add' pins" }),
  certificate: Type.String({ description: 'the certificate file (PEM) on the daemon host' }),
}, 'the API over TLS (docs/remote.md)');
export const Info = Answer({
  version: Type.String({ description: 'the version of Strata' }), root: Type.String({ description: 'the data root' }),
  rootId: Type.String({ description: "the data root's short id (in its cgroup and bridge names)" }),
  socket: Type.String({ description: 'the unix socket of the API' }), pid: Type.Integer({ description: "the daemon's process" }),
  idmappedMounts: Type.Boolean({ description: 'whether containers share template files through idmapped mounts (else one id-shifted copy each)' }),
  runcRoot: Type.String({ description: "the OCI runtime's state directory" }), cgroupParent: Type.String({ description: 'the cgroup parent of the containers' }),
  storageDriver: Type.String({ description: 'the driver of new disks' }), runtime: Type.String({ description: 'the OCI runtime' }),
  tls: Nullable(TlsInfo),
}, "the daemon's version, data root, drivers and host facts; tls is null without --listen");
export const HostUsage = Answer({
  at: Type.String(), cpus: Type.Integer(), cpuPercent: Nullable(Type.Number({ description: 'busy since the previous call; 100 = one CPU; null at the first' })),
  load: Type.Array(Type.Number(), { description: 'load average over 1, 5, 15 minutes' }),
  memoryTotalBytes: Type.Number(), memoryAvailableBytes: Type.Number(),
  diskTotalBytes: Type.Number({ description: "the data root's file system" }), diskFreeBytes: Type.Number(),
  netRxBytes: Type.Number({ description: 'cumulative since boot, every interface but lo' }), netTxBytes: Type.Number(),
}, 'what the host as a whole uses now');
export const Event = Answer({ id: Type.Integer(), time: Type.String(), kind: Type.String({ description: 'docs/cli.md lists the kinds' }), subject: Nullable(Type.String()), message: Type.String(), tenant: Type.Optional(Nullable(Type.String())) }, 'an event');
export type Event = Static<typeof Event>;
export const Removed = Answer({ removed: Type.String() });
export const Destroyed = Answer({ destroyed: Type.String() });
export const Aborted = Answer({ aborted: Type.String() });
export const ErrorAnswer = Type.Object({ code: Type.String(), message: Type.String() }, { description: 'a typed error (docs/errors.md)' });
export type ErrorAnswer = Static<typeof ErrorAnswer>;
/** Long operations answer NDJSON lines: {"progress": TEXT}… then {"result": …} or {"error": {code, message}}. */
export const NdjsonLines = Type.String({ description: 'NDJSON: {"progress": "…"} lines, then {"result": …} or {"error": {"code", "message"}}' });

// Operations

export const OperationView = Answer({
  id: Type.String(),
  kind: Type.String({ description: 'template-build, template-capture, template-export, template-import, store-verify, container-create' }),
  subject: Nullable(Type.String({ description: 'what it works on: a template or container name' })),
  state: OperationState,
  owner: Nullable(Type.String({ description: 'who started it (null: the host administrator)' })),
  progress: Nullable(Answer({
    line: Type.String({ description: 'the last progress line' }),
    step: Nullable(Type.String()), done: Nullable(Type.Number()), total: Nullable(Type.Number({ description: 'null when not known' })),
  })),
  result: Type.Unknown({ description: 'what the work answered (its stream\'s "result"), once it succeeded' }),
  error: Nullable(Answer({ code: Type.String(), message: Type.String() })),
  createdAt: Type.String(), startedAt: Nullable(Type.String()), finishedAt: Nullable(Type.String()),
  logLines: Type.Integer(), logDropped: Type.Integer({ description: 'lines dropped from the front of its log (it keeps the last 10 000)' }),
}, 'an operation: long work run under an id (docs/operations.md)');
export type OperationView = Static<typeof OperationView>;
export const BulkCreateResult = Answer({ created: Strings }, 'the containers a bulk create made');
export type BulkCreateResult = Static<typeof BulkCreateResult>;
/** What a long operation's route answers: its NDJSON stream, or (Prefer: respond-async, ?async=true) 202 and the operation. */
export const OperationAnswers = {
  200: { description: 'NDJSON progress, then the result', content: { 'application/x-ndjson': { schema: NdjsonLines } } },
  202: OperationView,
};

// Results of the NDJSON operations (their "result" line)

export const VerifyResult = Answer({ checked: Type.Integer(), bad: Type.Array(Type.String(), { description: 'digests whose object is missing or damaged' }) });
export type VerifyResult = Static<typeof VerifyResult>;
export const ExportResult = Answer({ file: Type.String(), digest: Type.String(), bytes: Type.Number() });
export type ExportResult = Static<typeof ExportResult>;
export type RemovedTemplate = Static<typeof RemovedTemplate>;
export type Info = Static<typeof Info>;

// Access: tenants, users, tokens, the caller, the audit log

// Null first: Fastify's validator coerces types, and would turn a null meant as 'remove' into 0 or ''.
const NullFirst = <T extends TSchema>(t: T) => Type.Union([Type.Null(), t]);
const SizeOrNumber = NullFirst(Type.Union([Type.Number(), Type.String()]));
export const PlanRequest = Body({
  cpus: Type.Optional(SizeOrNumber), memory: Type.Optional(SizeOrNumber), pids: Type.Optional(SizeOrNumber), disk: Type.Optional(SizeOrNumber),
  containers: Type.Optional(SizeOrNumber), ports: Type.Optional(SizeOrNumber), traffic: Type.Optional(SizeOrNumber),
  trafficPolicy: Type.Optional(NullFirst(Type.Union([Type.Literal('throttle'), Type.Literal('suspend')]))),
});
export type PlanRequest = Static<typeof PlanRequest>;
const Plan = Answer({
  cpus: Type.Optional(Type.Number()), memory: Type.Optional(Type.Number()), pids: Type.Optional(Type.Number()), disk: Type.Optional(Type.Number()),
  containers: Type.Optional(Type.Number()), ports: Type.Optional(Type.Number()), trafficBytes: Type.Optional(Type.Number()),
  trafficPolicy: Type.Optional(Type.String()),
}, "a tenant's plan: sizes in bytes; an absent field is no limit");
export const CreateTenantRequest = Body({ name: Type.String(), plan: Type.Optional(PlanRequest) });
export type CreateTenantRequest = Static<typeof CreateTenantRequest>;
export const SuspendRequest = Type.Union([Body({ reason: Type.Optional(Type.String()) }), Type.Null()]);
export const TenantView = Answer({
  name: Type.String(), plan: Plan, suspendedAt: Nullable(Type.String()), suspendedWhy: Nullable(Type.String()), createdAt: Type.String(),
  traffic: Nullable(Answer({ action: Type.Union([Type.Literal('throttle'), Type.Literal('suspend')]), month: Type.String() },
    "what the monthly traffic quota did to the tenant and in which month, while in force (lifted at the month's turn or when the plan grows)")),
  holdings: Answer({ containers: Type.Integer(), disk: Type.Number({ description: 'disk limits of its containers plus what their snapshots take' }), snapshots: Type.Number({ description: 'bytes its containers\' snapshots take (counted in disk)' }), ports: Type.Integer(), traffic: Type.Number({ description: 'bytes in and out this calendar month (UTC)' }) }, 'what its containers hold now, against the plan'),
  containers: Strings,
}, 'a tenant');
export type TenantView = Static<typeof TenantView>;

const Role = Type.Union([Type.Literal('admin'), Type.Literal('owner'), Type.Literal('operator'), Type.Literal('viewer'), Type.Literal('billing')]);
export const UserParams = Type.Object({ user: Type.String() });
export const CreateUserRequest = Body({
  name: Type.String(), role: Role, tenant: Type.Optional(Type.String({ description: 'required unless the role is admin' })),
  password: Type.Optional(Type.String({ description: "for the panel's log-in; at least 8 characters" })),
});
export type CreateUserRequest = Static<typeof CreateUserRequest>;
export const PasswordRequest = Body({ password: NullFirst(Type.String({ description: 'null removes it' })) });
export const UserView = Answer({ name: Type.String(), tenant: Nullable(Type.String()), role: Type.String(), hasPassword: Type.Boolean(), createdAt: Type.String() }, 'a user');
export type UserView = Static<typeof UserView>;

export const TokenParams = Type.Object({ id: Type.String() });
export const CreateTokenRequest = Body({
  user: Type.Optional(Type.String({ description: 'whose token (default: the caller)' })),
  scopes: Type.Optional(Type.Array(Type.String(), { description: "default: all the user's role grants" })),
  containers: Type.Optional(Type.Array(Type.String(), { description: 'only these containers' })),
  cidrs: Type.Optional(Type.Array(Type.String(), { description: 'only from these address ranges' })),
  expiresIn: Type.Optional(Type.Integer({ minimum: 1, description: 'seconds from now' })),
  description: Type.Optional(Type.String()),
});
export type CreateTokenRequest = Static<typeof CreateTokenRequest>;
export const TokenView = Answer({
  id: Type.String(), user: Type.String(), scopes: Strings, containers: Nullable(Strings), cidrs: Nullable(Strings), description: Type.String(),
  expiresAt: Nullable(Type.String()), createdAt: Type.String(), lastUsedAt: Nullable(Type.String()),
}, 'an API token (never its secret)');
export type TokenView = Static<typeof TokenView>;
export const NewTokenView = Answer({ token: Type.String({ description: 'the secret: shown once, stored only hashed' }), record: TokenView });
export type NewTokenView = Static<typeof NewTokenView>;
export const LoginRequest = Body({ user: Type.String(), password: Type.String() });

export const MeView = Answer({
  user: Type.String(), role: Type.String(), tenant: Nullable(Type.String()), actingAs: Nullable(Type.String()),
  scopes: Strings, containers: Nullable(Strings), token: Nullable(Type.String()), source: Type.String(),
  tenantView: Type.Optional(TenantView),
}, 'who the caller is and what it may do');
export type MeView = Static<typeof MeView>;

export const AuditQuery = Type.Object({ after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })) });
export const AuditEntry = Answer({
  id: Type.Integer(), time: Type.String(), actor: Type.String(), token: Nullable(Type.String()), asTenant: Nullable(Type.String()),
  tenant: Nullable(Type.String()), source: Type.String(), method: Type.String(), path: Type.String(), status: Type.Integer(),
}, 'one audited change');
export type AuditEntry = Static<typeof AuditEntry>;

// Metering (docs/metrics.md)

export const TenantParams = Type.Object({ tenant: Type.String({ description: "a tenant's name; `-` for the host's own containers (no tenant)" }) });
export const UsageSeriesQuery = Type.Object({
  resolution: Type.Optional(Type.String({ description: '10s, 1m, 1h or 1d (default: the finest one that still keeps points as old as `from`, at most ~500 points)' })),
  from: Type.Optional(Type.String({ description: 'ISO 8601 (default: an hour before `to`)' })),
  to: Type.Optional(Type.String({ description: 'ISO 8601 (default: now)' })),
});
export type UsageSeriesQuery = Static<typeof UsageSeriesQuery>;
export const LedgerQuery = Type.Object({ month: Type.String({ description: 'a calendar month (UTC), YYYY-MM' }) });

export const UsagePoint = Answer({
  at: Type.String({ description: 'bucket start (ISO 8601)' }),
  runningSeconds: Type.Number({ description: 'running time the readings cover (a tenant: summed over its containers)' }),
  cpuSeconds: Type.Number(),
  cpuPercent: Nullable(Type.Number({ description: 'average over the running time, 100 = one CPU' })),
  cpuPercentMax: Type.Number({ description: 'the highest between two readings' }),
  memoryBytes: Nullable(Type.Number({ description: 'average while running' })), memoryMaxBytes: Type.Number(),
  diskUsedBytes: Nullable(Type.Number({ description: 'average while running (containers with a disk limit)' })), diskUsedMaxBytes: Type.Number(),
  ioReadBytes: Type.Number(), ioWriteBytes: Type.Number(), ioReadOps: Type.Number(), ioWriteOps: Type.Number(),
  netRxBytes: Type.Number(), netTxBytes: Type.Number(),
}, 'usage within one bucket: counters as deltas, gauges as average and highest');
export type UsagePoint = Static<typeof UsagePoint>;
const SeriesFields = {
  resolution: Type.String(), from: Type.String(), to: Type.String(), points: Type.Array(UsagePoint),
};
export const ContainerUsageSeries = Answer({ container: Type.String(), ...SeriesFields }, "a container's usage over time");
export type ContainerUsageSeries = Static<typeof ContainerUsageSeries>;
export const TenantUsageSeries = Answer({ tenant: Type.String({ description: '`-` for the host\'s own containers' }), ...SeriesFields }, "a tenant's usage over time, summed over its containers");
export type TenantUsageSeries = Static<typeof TenantUsageSeries>;
export const LedgerLine = Answer({
  container: Nullable(Type.String({ description: 'null on the total' })),
  runningHours: Type.Number(), cpuSeconds: Type.Number(),
  memoryGiBHours: Type.Number(), memoryAverageBytes: Nullable(Type.Number({ description: 'while running' })), memoryMaxBytes: Type.Number(),
  diskGiBHours: Type.Number(), diskMaxBytes: Type.Number(),
  ioReadBytes: Type.Number(), ioWriteBytes: Type.Number(), ioReadOps: Type.Number(), ioWriteOps: Type.Number(),
  netRxBytes: Type.Number(), netTxBytes: Type.Number(),
});
export type LedgerLine = Static<typeof LedgerLine>;
export const UsageLedger = Answer({
  tenant: Type.String({ description: '`-` for the host\'s own containers' }), month: Type.String(), from: Type.String(), to: Type.String(),
  containers: Type.Array(LedgerLine, { description: 'every container the tenant owned in the month, also destroyed ones' }), total: LedgerLine,
}, "a tenant's usage in one calendar month");
export type UsageLedger = Static<typeof UsageLedger>;
