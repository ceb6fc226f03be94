/** Containers: lifecycle, application templates, exec plans, limits, usage, ports, console and logs. */
import { Type } from 'typebox';
import {
  AppParams, Argv, AsyncQuery, AttachReport, AttachRequest, BriefQuery, CloneRequest, BriefView, ConsolePlan, ContainerStats, ContainerView,
  CreateContainerRequest, Destroyed, DetachReport, ExecRequest, FollowQuery, ForceQuery, LimitsUpdate, NameParams, NdjsonLines, OperationView,
  PoolView, PortParams, PortRequest, PortView, ProcessesQuery, ProcessView, Removed, RenameRequest, ScheduleAnswer, ScheduleRequest, ScheduleView, SnapshotParams, SnapshotRequest, SnapshotView, StopRequest, UpgradeReport, UpgradeRequest,
} from '../types.js';
import { scopeTenant, type Caller } from '../../access/index.js';
import { InvalidArgument, PermissionDenied } from '../../errors/index.js';
import { parseDuration } from '../../model/units.js';
import { visibleTo } from '../access.js';
import { asOperation, clientGone, endsWithServer, tag, wantsAsync, type App, type Services } from '../http.js';

const t = tag('containers');
// Text, sent whole or as a stream that follows the log.
const ConsoleText = Type.Unsafe<string | NodeJS.ReadableStream>({ type: 'string' });

/** The tenant a new container belongs to: the caller's own (or the one acted as); an administrator's choice otherwise. */
function ownerOf(caller: Caller, asked: string | undefined): string | null {
  const own = scopeTenant(caller);
  if (own !== null && asked !== undefined && asked !== own) throw new PermissionDenied(`${caller.user} makes containers of tenant ${own} only, not of ${asked}`);
  return own ?? asked ?? null;
}

export function containerRoutes(app: App, s: Services): void {
  app.get('/v1/containers', { config: { scope: 'containers:read' },
    schema: { ...t, summary: 'List containers', querystring: BriefQuery, response: { 200: Type.Array(Type.Union([ContainerView, BriefView])) } },
  }, async (req) => {
    const visible = visibleTo(req.caller);
    return (req.query.brief ? s.containers.listBrief() : s.containers.list()).filter(visible);
  });
  app.get('/v1/containers/:name', { config: { scope: 'containers:read' }, schema: { ...t, summary: 'Inspect a container', params: NameParams, response: { 200: ContainerView } } },
    async (req) => s.containers.inspect(req.params.name));
  app.post('/v1/containers', {
    config: { scope: 'containers:write' },
    schema: {
      ...t, summary: 'Create a container; with `count` or `names`, several (a bulk create, run as an operation)', querystring: AsyncQuery, body: CreateContainerRequest,
      response: { 201: ContainerView, 200: { description: 'a bulk create: NDJSON progress, then the result (BulkCreateResult)', content: { 'application/x-ndjson': { schema: NdjsonLines } } }, 202: OperationView },
    },
  }, async (req, reply) => {
    const { count, names, ...one } = req.body;
    if (names === undefined && count === undefined) {
      if (one.name === undefined) throw new InvalidArgument('a container needs a name: give `name` (or `names`, or `name` and `count`, for several)');
      const request = { ...one, name: one.name, tenant: ownerOf(req.caller, one.tenant) };
      if (!wantsAsync(req)) return reply.status(201).send(await s.containers.create(request, clientGone(req, reply)));
      s.containers.checkCreate(request);
      return asOperation(req, reply, s, 'container-create', request.name, async (_progress, signal) => s.containers.create(request, signal));
    }
    const all = bulkNames(one.name, count, names);
    if (one.hostname !== undefined || one.ip !== undefined || one.ports?.length) {
      throw new InvalidArgument('a bulk create cannot give every container the same hostname, address or published ports: leave hostname, ip and ports out (each hostname is its name)');
    }
    const owner = ownerOf(req.caller, one.tenant);
    const requests = all.map((name) => ({ ...one, name, tenant: owner }));
    requests.forEach((r) => s.containers.checkCreate(r));
    return asOperation(req, reply, s, 'container-create', one.name ?? all[0], (progress, signal) => s.containers.createMany(requests, progress, signal));
  });
  app.delete('/v1/containers/:name', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Destroy a container (force: also a running one)', params: NameParams, querystring: ForceQuery, response: { 200: Destroyed } },
  }, async (req) => { await s.containers.destroy(req.params.name, !!req.query.force); return { destroyed: req.params.name }; });

  app.post('/v1/containers/:name/start', { config: { scope: 'containers:write' }, schema: { ...t, summary: 'Start a container', params: NameParams, response: { 200: ContainerView } } },
    async (req) => s.containers.start(req.params.name));
  app.post('/v1/containers/:name/stop', { config: { scope: 'containers:write' }, schema: { ...t, summary: 'Stop a container', params: NameParams, body: StopRequest, response: { 200: ContainerView } } },
    async (req) => s.containers.stop(req.params.name, req.body?.timeout ?? 10));
  app.post('/v1/containers/:name/restart', { config: { scope: 'containers:write' }, schema: { ...t, summary: 'Restart a container', params: NameParams, body: StopRequest, response: { 200: ContainerView } } },
    async (req) => s.containers.restart(req.params.name, req.body?.timeout ?? 10));

  app.post('/v1/containers/:name/apps', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Attach an application template', params: NameParams, body: AttachRequest, response: { 200: AttachReport } },
  }, async (req) => s.containers.attach(req.params.name, req.body.template, { force: req.body.force, version: req.body.version }));
  app.delete('/v1/containers/:name/apps/:template', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Detach an application template', params: AppParams, response: { 200: DetachReport } },
  }, async (req) => s.containers.detach(req.params.name, req.params.template));
  app.post('/v1/containers/:name/apps/:template/upgrade', { config: { scope: 'containers:write' },
    schema: { ...t, summary: "Move an attached application template to its newest version", params: AppParams, body: UpgradeRequest, response: { 200: UpgradeReport } },
  }, async (req) => s.containers.upgrade(req.params.name, req.params.template, req.body?.force));

  app.post('/v1/containers/:name/rename', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Rename a stopped container (its records, files, disk and snapshots; its history follows it)', params: NameParams, body: RenameRequest, response: { 200: ContainerView } },
  }, async (req) => {
    const v = await s.containers.rename(req.params.name, req.body.name);
    s.meter.rename(req.params.name, req.body.name);
    return v;
  });
  app.post('/v1/containers/:name/clones', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Clone a container: its template, limits, networks (new addresses), application templates and own files (a running one is frozen while they are copied); published ports are not cloned', params: NameParams, body: CloneRequest, response: { 201: ContainerView } },
  }, async (req, reply) => reply.status(201).send(await s.containers.clone(req.params.name, req.body.name)));
  app.get('/v1/containers/:name/snapshots', { config: { scope: 'containers:read' },
    schema: { ...t, summary: "A container's snapshots, oldest first", params: NameParams, response: { 200: Type.Array(SnapshotView) } },
  }, async (req) => s.containers.snapshots(req.params.name));
  app.post('/v1/containers/:name/snapshots', { config: { scope: 'containers:write' },
    schema: { ...t, summary: "Snapshot a container's own files (a running one is frozen for the instant it takes)", params: NameParams, body: SnapshotRequest, response: { 201: SnapshotView } },
  }, async (req, reply) => reply.status(201).send(await s.containers.snapshot(req.params.name, req.body?.name)));
  app.get('/v1/containers/:name/snapshot-schedule', { config: { scope: 'containers:read' },
    schema: { ...t, summary: "A container's snapshot schedule (null: none)", params: NameParams, response: { 200: ScheduleAnswer } },
  }, async (req) => s.containers.snapshotSchedule(req.params.name));
  app.put('/v1/containers/:name/snapshot-schedule', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Snapshot a container every interval, keeping the newest `keep` scheduled ones (named auto-…)', params: NameParams, body: ScheduleRequest, response: { 200: ScheduleView } },
  }, async (req) => s.containers.setSnapshotSchedule(req.params.name, typeof req.body.every === 'number' ? req.body.every : parseDuration(req.body.every, 'interval'), req.body.keep));
  app.delete('/v1/containers/:name/snapshot-schedule', { config: { scope: 'containers:write' },
    schema: { ...t, summary: "Remove a container's snapshot schedule (its snapshots stay)", params: NameParams, response: { 200: Removed } },
  }, async (req) => { await s.containers.removeSnapshotSchedule(req.params.name); return { removed: 'schedule' }; });
  app.post('/v1/containers/:name/snapshots/:snapshot/restore', { config: { scope: 'containers:write' },
    schema: { ...t, summary: "Put a snapshot's files back as the container's own (stopped; same application templates)", params: SnapshotParams, response: { 200: SnapshotView } },
  }, async (req) => s.containers.restoreSnapshot(req.params.name, req.params.snapshot));
  app.delete('/v1/containers/:name/snapshots/:snapshot', { config: { scope: 'containers:write' },
    schema: { ...t, summary: 'Remove a snapshot', params: SnapshotParams, response: { 200: Removed } },
  }, async (req) => { await s.containers.removeSnapshot(req.params.name, req.params.snapshot); return { removed: req.params.snapshot }; });

  app.post('/v1/containers/:name/exec', {
    schema: { ...t, summary: 'Plan an exec: the runtime command line to run on the daemon host', params: NameParams, body: ExecRequest, response: { 200: Argv } },
  }, async (req) => ({ argv: await s.containers.execPlan(req.params.name, req.body) }));
  app.post('/v1/containers/:name/enter', { schema: { ...t, summary: 'Plan a login shell in the container', params: NameParams, response: { 200: Argv } } },
    async (req) => ({ argv: await s.containers.enterPlan(req.params.name) }));
  app.post('/v1/containers/:name/console', { schema: { ...t, summary: "Where to attach to the container's console", params: NameParams, response: { 200: ConsolePlan } } },
    async (req) => s.containers.consolePlan(req.params.name));

  app.patch('/v1/containers/:name/limits', { config: { scope: 'containers:write' }, schema: { ...t, summary: 'Change limits, live', params: NameParams, body: LimitsUpdate, response: { 200: ContainerView } } },
    async (req) => s.containers.set(req.params.name, req.body.limits));
  app.get('/v1/containers/:name/stats', { config: { scope: 'containers:read' }, schema: { ...t, summary: 'What a container uses now', params: NameParams, response: { 200: ContainerStats } } },
    async (req) => s.containers.stats(req.params.name));
  app.get('/v1/stats', { config: { scope: 'containers:read' }, schema: { ...t, summary: 'What every container uses now', response: { 200: Type.Array(ContainerStats) } } },
    async (req) => s.containers.allStats(visibleTo(req.caller)));
  app.get('/v1/processes', { config: { scope: 'containers:read' }, schema: { ...t, summary: 'Processes of all containers, or of one', querystring: ProcessesQuery, response: { 200: Type.Array(ProcessView) } } },
    async (req) => {
      if (req.query.container) return s.containers.processes(req.query.container);
      const visible = new Set(s.containers.listBrief().filter(visibleTo(req.caller)).map((c) => c.name));
      return (await s.containers.processes()).filter((p) => visible.has(p.container));
    });
  app.get('/v1/pool', { schema: { ...t, summary: 'The storage pool of the private areas', response: { 200: PoolView } } }, async () => s.containers.poolView());

  app.get('/v1/containers/:name/ports', { config: { scope: 'containers:read' }, schema: { ...t, summary: 'Published ports', params: NameParams, response: { 200: Type.Array(PortView) } } }, async (req) => {
    s.containers.inspect(req.params.name);
    return s.networks.listPorts(req.params.name);
  });
  app.post('/v1/containers/:name/ports', { config: { scope: 'containers:write' }, schema: { ...t, summary: 'Publish a port', params: NameParams, body: PortRequest, response: { 201: PortView } } }, async (req, reply) => {
    const c = s.containers.inspect(req.params.name);
    // Counted against the tenant's plan until it is recorded.
    const reservation = c.tenant ? s.quota.checkPorts(c.tenant, 1) : null;
    try {
      return reply.status(201).send(await s.networks.addPort(req.params.name, req.body.spec));
    } finally {
      reservation?.release();
    }
  });
  app.delete('/v1/containers/:name/ports/:spec', { config: { scope: 'containers:write' }, schema: { ...t, summary: 'Unpublish a port', params: PortParams, response: { 200: Removed } } }, async (req) => {
    s.containers.inspect(req.params.name);
    await s.networks.removePort(req.params.name, req.params.spec);
    return { removed: req.params.spec };
  });

  app.get('/v1/containers/:name/logs', { config: { scope: 'containers:read' },
    schema: {
      ...t, summary: "What the container's console printed (follow: and what it prints from now on)", params: NameParams, querystring: FollowQuery,
      response: { 200: { description: 'the console log', content: { 'text/plain': { schema: ConsoleText } } } },
    },
  }, async (req, reply) => {
    if (!req.query.follow) return reply.type('text/plain').send(await s.containers.logs(req.params.name));
    const stop = new AbortController();
    const forget = endsWithServer(app, () => stop.abort());
    req.raw.socket.on('close', () => { forget(); stop.abort(); });
    return reply.type('text/plain').send(s.containers.followLogs(req.params.name, stop.signal));
  });
}

/** The names of a bulk create: `names`, or NAME-1 … NAME-N for `name` and `count`. */
function bulkNames(name: string | undefined, count: number | undefined, names: string[] | undefined): string[] {
  if (names !== undefined && (name !== undefined || count !== undefined)) throw new InvalidArgument('give either `names`, or `name` and `count`, not both');
  if (names !== undefined) return names;
  if (name === undefined) throw new InvalidArgument('`count` needs `name`: the containers are named NAME-1 … NAME-N');
  return Array.from({ length: count ?? 1 }, (_, i) => `${name}-${i + 1}`);
}
