/**
 * The daemon's HTTP API (Fastify) over a unix socket. Routes only translate
 * HTTP to calls on the services and errors to `{code, message}`; the logic
 * lives in the services. Long operations stream NDJSON progress lines.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createReadStream, promises as fsp } from 'node:fs';
import { PassThrough } from 'node:stream';
import { asStrataError, Cancelled, InvalidArgument } from '../errors/index.js';
import { httpStatusOf } from './errors.js';
import type { Containers } from '../containers/index.js';
import type { Captures, CaptureRequest } from '../containers/capture.js';
import type { Store } from '../state/index.js';
import type { Templates } from '../templates/index.js';
import type { Networks } from '../network/index.js';

export interface Services {
  networks: Networks;
  containers: Containers;
  captures: Captures;
  templates: Templates;
  store: Store;
  info: Record<string, unknown>;
  log?: (line: string) => void;
}

/** Limits as the CLI gives them: sizes and rates as text ("512M", "none") or numbers. */
const limitsSchema = {
  type: 'object',
  additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }] },
} as const;

const nameParam = {
  type: 'object',
  properties: { name: { type: 'string' } },
  required: ['name'],
} as const;

const versionQuery = { type: 'object', properties: { version: { type: 'integer', minimum: 1 } } } as const;

const appParams = {
  type: 'object',
  properties: { name: { type: 'string' }, template: { type: 'string' } },
  required: ['name', 'template'],
} as const;

/** An AbortSignal that fires when the client goes away before the answer (Ctrl-C on the CLI). */
function clientGone(req: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  req.raw.socket.on('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new Cancelled('the client went away: operation cancelled and rolled back'));
  });
  return ac.signal;
}

/** Runs a long operation, answering with NDJSON lines: {"progress"}… then {"result"} or {"error"}. */
async function streamed(reply: FastifyReply, work: (progress: (line: string) => void) => Promise<unknown>): Promise<FastifyReply> {
  const out = new PassThrough();
  void reply.type('application/x-ndjson').send(out);
  const line = (obj: unknown): void => { out.write(`${JSON.stringify(obj)}\n`); };
  try {
    line({ result: await work((progress) => line({ progress })) });
  } catch (err) {
    const e = asStrataError(err);
    line({ error: { code: e.code, message: e.message } });
  }
  out.end();
  return reply;
}

export function buildServer(s: Services): FastifyInstance {
  // Fastify's validator would drop unknown body fields silently (removeAdditional): a misspelt
  // field must be refused, not ignored.
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, ajv: { customOptions: { removeAdditional: false } } });

  app.setErrorHandler((err, _req, reply) => {
    const validation = (err as { validation?: unknown }).validation;
    const e = validation ? new InvalidArgument(`invalid request: ${(err as Error).message}`) : asStrataError(err);
    // The stack of what was thrown, not of its wrapper (asStrataError wraps plain errors).
    if (e.code === 'internal') s.log?.(`internal error: ${(e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack ?? e.message}`);
    void reply.status(httpStatusOf[e.code]).send({ code: e.code, message: e.message });
  });

  app.get('/v1/info', async () => s.info);
  app.get('/v1/events', async () => s.store.listEvents(200));

  // Templates

  app.get('/v1/templates', async () => s.templates.list());
  app.get('/v1/templates/:name', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    return s.templates.view(s.templates.get(name));
  });
  app.delete('/v1/templates/:name', { schema: { params: nameParam, querystring: versionQuery } }, async (req) => {
    const { name } = req.params as { name: string };
    const { version } = req.query as { version?: number };
    const versions = await s.templates.remove(name, version);
    return { removed: name, versions };
  });
  app.post('/v1/templates-capture', {
    schema: {
      body: {
        type: 'object',
        properties: {
          name: { type: 'string' }, bases: { type: 'array', items: { type: 'string' } }, nets: { type: 'array', items: { type: 'string' } },
          excludes: { type: 'array', items: { type: 'string' } }, command: { type: 'array', items: { type: 'string' } },
          script: { type: 'string' }, interactive: { type: 'boolean' },
        },
        required: ['name', 'bases'],
        additionalProperties: false,
      },
    },
  }, async (req, reply) => {
    const body = req.body as CaptureRequest;
    s.captures.check(body);
    if (body.interactive) return streamed(reply, (progress) => s.captures.begin(body, progress));
    const signal = clientGone(req, reply);
    return streamed(reply, (progress) => s.captures.run(body, progress, signal));
  });
  app.post('/v1/templates-capture/:name/finish', { schema: { params: nameParam } }, async (req, reply) => {
    const { name } = req.params as { name: string };
    return streamed(reply, (progress) => s.captures.finish(name, progress));
  });
  app.delete('/v1/templates-capture/:name', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    await s.captures.abort(name);
    return { aborted: name };
  });
  app.post('/v1/templates', {
    schema: {
      body: {
        type: 'object',
        properties: { name: { type: 'string' }, from: { type: 'string' }, init: { type: 'string' } },
        required: ['name', 'from'],
        additionalProperties: false,
      },
    },
  }, async (req, reply) => {
    const { name, from, init } = req.body as { name: string; from: string; init?: string };
    await s.templates.check(name, from, { init });
    const signal = clientGone(req, reply);
    return streamed(reply, (progress) => s.templates.build(name, from, progress, signal, { init }));
  });
  app.get('/v1/templates-df', async () => s.templates.df());
  app.post('/v1/templates-verify', async (_req, reply) => streamed(reply, (progress) => s.templates.verify(progress)));
  app.post('/v1/templates/:name/export', {
    schema: { params: nameParam, body: { type: 'object', properties: { file: { type: 'string' }, version: { type: 'integer', minimum: 1 } }, required: ['file'], additionalProperties: false } },
  }, async (req, reply) => {
    const { name } = req.params as { name: string };
    const { file, version } = req.body as { file: string; version?: number };
    const t = s.templates.get(name);
    if (t.kind === 'app') s.templates.apps.get(name, version);
    return streamed(reply, (progress) => s.templates.export(name, file, progress, version));
  });
  app.post('/v1/templates-import', {
    schema: { body: { type: 'object', properties: { file: { type: 'string' }, name: { type: 'string' } }, required: ['file'], additionalProperties: false } },
  }, async (req, reply) => {
    const { file, name } = req.body as { file: string; name?: string };
    await s.templates.checkImport(file, name);
    return streamed(reply, (progress) => s.templates.import(file, name, progress));
  });

  // Containers

  app.get('/v1/containers', { schema: { querystring: { type: 'object', properties: { brief: { type: 'boolean' } } } } }, async (req) => {
    // brief: the columns of `strata list` only (name, state, pid, template, hostname, startedAt).
    return (req.query as { brief?: boolean }).brief ? s.containers.listBrief() : s.containers.list();
  });
  app.get('/v1/containers/:name', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    return s.containers.inspect(name);
  });
  app.post('/v1/containers', {
    schema: {
      body: {
        type: 'object',
        properties: {
          name: { type: 'string' }, template: { type: 'string' }, hostname: { type: 'string' },
          privileged: { type: 'boolean' }, autostart: { type: 'boolean' }, limits: limitsSchema,
          nets: { type: 'array', items: { type: 'string' } }, ip: { type: 'string' }, noNet: { type: 'boolean' },
          ports: { type: 'array', items: { type: 'string' } }, netIn: { type: 'string' }, netOut: { type: 'string' },
          apps: { type: 'array', items: { type: 'string' } }, force: { type: 'boolean' },
        },
        required: ['name', 'template'],
        additionalProperties: false,
      },
    },
  }, async (req, reply) => {
    const body = req.body as import('../containers/index.js').CreateOptions;
    const view = await s.containers.create(body, clientGone(req, reply));
    return reply.status(201).send(view);
  });
  app.post('/v1/containers/:name/apps', {
    schema: {
      params: nameParam,
      body: { type: 'object', properties: { template: { type: 'string' }, force: { type: 'boolean' }, version: { type: 'integer', minimum: 1 } }, required: ['template'], additionalProperties: false },
    },
  }, async (req) => {
    const { name } = req.params as { name: string };
    const { template, force, version } = req.body as { template: string; force?: boolean; version?: number };
    return s.containers.attach(name, template, { force, version });
  });
  app.delete('/v1/containers/:name/apps/:template', { schema: { params: appParams } }, async (req) => {
    const { name, template } = req.params as { name: string; template: string };
    return s.containers.detach(name, template);
  });
  app.post('/v1/containers/:name/apps/:template/upgrade', {
    schema: { params: appParams, body: { type: 'object', properties: { force: { type: 'boolean' } }, additionalProperties: false } },
  }, async (req) => {
    const { name, template } = req.params as { name: string; template: string };
    const { force } = (req.body ?? {}) as { force?: boolean };
    return s.containers.upgrade(name, template, force);
  });
  app.post('/v1/containers/:name/start', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    return s.containers.start(name);
  });
  const timeoutBody = { type: 'object', nullable: true, properties: { timeout: { type: 'number' } }, additionalProperties: false } as const;
  app.post('/v1/containers/:name/stop', { schema: { params: nameParam, body: timeoutBody } }, async (req) => {
    const { name } = req.params as { name: string };
    const body = (req.body ?? {}) as { timeout?: number };
    return s.containers.stop(name, body.timeout ?? 10);
  });
  app.post('/v1/containers/:name/restart', { schema: { params: nameParam, body: timeoutBody } }, async (req) => {
    const { name } = req.params as { name: string };
    const body = (req.body ?? {}) as { timeout?: number };
    return s.containers.restart(name, body.timeout ?? 10);
  });
  app.delete('/v1/containers/:name', {
    schema: { params: nameParam, querystring: { type: 'object', properties: { force: { type: 'boolean' } } } },
  }, async (req) => {
    const { name } = req.params as { name: string };
    const { force } = req.query as { force?: boolean };
    await s.containers.destroy(name, !!force);
    return { destroyed: name };
  });
  app.post('/v1/containers/:name/exec', {
    schema: {
      params: nameParam,
      body: {
        type: 'object',
        properties: {
          tty: { type: 'boolean' }, user: { type: 'string' }, cwd: { type: 'string' },
          env: { type: 'array', items: { type: 'string' } }, args: { type: 'array', items: { type: 'string' } },
        },
        required: ['args'],
        additionalProperties: false,
      },
    },
  }, async (req) => {
    const { name } = req.params as { name: string };
    return { argv: await s.containers.execPlan(name, req.body as { args: string[] }) };
  });
  app.patch('/v1/containers/:name/limits', {
    schema: { params: nameParam, body: { type: 'object', properties: { limits: limitsSchema }, required: ['limits'], additionalProperties: false } },
  }, async (req) => {
    const { name } = req.params as { name: string };
    return s.containers.set(name, (req.body as { limits: Record<string, string | number> }).limits);
  });
  app.get('/v1/containers/:name/stats', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    return s.containers.stats(name);
  });
  app.get('/v1/stats', async () => Promise.all(s.containers.list().map((c) => s.containers.stats(c.name))));
  app.get('/v1/processes', { schema: { querystring: { type: 'object', properties: { container: { type: 'string' } } } } }, async (req) => {
    const { container } = req.query as { container?: string };
    return s.containers.processes(container);
  });
  app.get('/v1/pool', async () => s.containers.poolView());

  // Networks and published ports

  app.get('/v1/networks', async () => s.networks.list());
  app.get('/v1/networks/:name', { schema: { params: nameParam } }, async (req) => s.networks.inspect((req.params as { name: string }).name));
  app.post('/v1/networks', {
    schema: {
      body: {
        type: 'object',
        properties: { name: { type: 'string' }, subnet: { type: 'string' }, gateway: { type: 'string' }, nat: { type: 'boolean' }, isolated: { type: 'boolean' } },
        required: ['name', 'subnet'],
        additionalProperties: false,
      },
    },
  }, async (req, reply) => reply.status(201).send(await s.networks.create(req.body as import('../network/index.js').CreateNetworkRequest)));
  app.delete('/v1/networks/:name', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    await s.networks.remove(name);
    return { removed: name };
  });
  const portBody = { type: 'object', properties: { spec: { type: 'string' } }, required: ['spec'], additionalProperties: false } as const;
  app.get('/v1/containers/:name/ports', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    s.containers.inspect(name);
    return s.networks.listPorts(name);
  });
  app.post('/v1/containers/:name/ports', { schema: { params: nameParam, body: portBody } }, async (req, reply) => {
    const { name } = req.params as { name: string };
    s.containers.inspect(name);
    return reply.status(201).send(await s.networks.addPort(name, (req.body as { spec: string }).spec));
  });
  app.delete('/v1/containers/:name/ports/:spec', { schema: { params: { type: 'object', properties: { name: { type: 'string' }, spec: { type: 'string' } }, required: ['name', 'spec'] } } }, async (req) => {
    const { name, spec } = req.params as { name: string; spec: string };
    s.containers.inspect(name);
    await s.networks.removePort(name, spec);
    return { removed: spec };
  });
  app.post('/v1/containers/:name/enter', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    return { argv: await s.containers.enterPlan(name) };
  });
  app.post('/v1/containers/:name/console', { schema: { params: nameParam } }, async (req) => {
    const { name } = req.params as { name: string };
    return s.containers.consolePlan(name);
  });
  app.get('/v1/containers/:name/logs', {
    schema: { params: nameParam, querystring: { type: 'object', properties: { follow: { type: 'boolean' } } } },
  }, async (req, reply) => {
    const { name } = req.params as { name: string };
    const { follow } = req.query as { follow?: boolean };
    const file = s.containers.logPath(name);
    if (!follow) return reply.type('text/plain').send(await s.containers.logs(name));
    const out = new PassThrough();
    let pos = 0;
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
    const timer = setInterval(() => { void pump(); }, 250);
    req.raw.socket.on('close', () => { clearInterval(timer); out.end(); });
    await pump();
    return reply.type('text/plain').send(out);
  });

  return app;
}
