/**
 * Templates: OS templates built or imported, application templates captured, their disk use.
 * The long ones (build, capture, export, import, verify) run as operations: NDJSON by default,
 * 202 and the operation when asked (http.ts, asOperation).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  PublishRequest,
  Aborted, AsyncQuery, BuildTemplateRequest, CaptureBody, CaptureRequest, ExportRequest, ImportRequest, NameParams, OperationAnswers,
  RemovedTemplate, SessionParams, TemplateDf, TemplateView, VersionQuery,
} from '../types.js';
import { InvalidArgument } from '../../errors/index.js';
import { asOperation, older, streamed, tag, wantsAsync, type App, type Services } from '../http.js';

const long = OperationAnswers;
const async = { querystring: AsyncQuery };
const t = tag('templates');

export function templateRoutes(app: App, s: Services): void {
  app.get('/v1/templates', { config: { scope: 'templates:read' }, schema: { ...t, summary: 'List templates', response: { 200: Type.Array(TemplateView) } } }, async () => s.templates.list());
  app.get('/v1/templates/:name', { config: { scope: 'templates:read' }, schema: { ...t, summary: 'Inspect a template', params: NameParams, response: { 200: TemplateView } } },
    async (req) => s.templates.view(s.templates.get(req.params.name)));
  app.delete('/v1/templates/:name', { config: { scope: 'templates:write' },
    schema: { ...t, summary: 'Remove a template, or one version of an application template', params: NameParams, querystring: VersionQuery, response: { 200: RemovedTemplate } },
  }, async (req) => ({ removed: req.params.name, versions: await s.templates.remove(req.params.name, req.query.version) }));

  app.post('/v1/templates', { config: { scope: 'templates:write' }, schema: { ...t, summary: 'Build an OS template', ...async, body: BuildTemplateRequest, response: long } }, async (req, reply) => {
    const { name, from, init } = req.body;
    await s.templates.check(name, from, { init });
    return asOperation(req, reply, s, 'template-build', name, (progress, signal) => s.templates.build(name, from, progress, signal, { init }));
  });

  // Captures of application templates: one at a time per template name.
  app.post('/v1/templates/:name/captures', { config: { scope: 'templates:write' },
    schema: { ...t, summary: 'Capture a version of an application template from an installer run in a scratch container', params: NameParams, ...async, body: CaptureBody, response: long },
  }, async (req, reply) => runCapture(s, { name: req.params.name, ...req.body }, req, reply));
  app.post('/v1/containers/:name/publish', { config: { scope: 'templates:write' },
    schema: { ...t, summary: "Publish what a container changed over its templates as a version of an application template (a running one is frozen meanwhile)", params: NameParams, ...async, body: PublishRequest, response: long },
  }, async (req, reply) => {
    s.containers.inspect(req.params.name);
    return asOperation(req, reply, s, 'template-publish', req.body.template, (progress) => s.captures.publish(req.params.name, req.body.template, progress));
  });
  app.post('/v1/templates/:name/captures/:session/finish', { config: { scope: 'templates:write' },
    schema: { ...t, summary: 'Finish an interactive capture: record what its shell changed', params: SessionParams, ...async, response: long },
  }, async (req, reply) => asOperation(req, reply, s, 'template-capture', req.params.name, (progress) => s.captures.finish(req.params.session, progress)));
  app.delete('/v1/templates/:name/captures/:session', { config: { scope: 'templates:write' },
    schema: { ...t, summary: 'Abort an interactive capture', params: SessionParams, response: { 200: Aborted } },
  }, async (req) => { await s.captures.abort(req.params.session); return { aborted: req.params.session }; });

  app.post('/v1/templates/:name/exports', { config: { scope: 'templates:write' },
    schema: { ...t, summary: 'Export a template to a file on the daemon host', params: NameParams, ...async, body: ExportRequest, response: long },
  }, async (req, reply) => exportTemplate(s, req.params.name, req.body, req, reply));
  app.post('/v1/template-imports', { config: { scope: 'templates:write' },
    schema: { ...t, summary: 'Import a template from a file on the daemon host', ...async, body: ImportRequest, response: long },
  }, async (req, reply) => importTemplate(s, req.body, req, reply));
  app.get('/v1/template-usage', { config: { scope: 'admin' }, schema: { ...t, summary: 'Disk use of the templates and what sharing saves', response: { 200: TemplateDf } } }, async () => s.templates.df());
  app.post('/v1/store/verifications', { config: { scope: 'admin' },
    schema: { ...t, summary: "Verify every object of the content store against its digest", ...async, response: long },
  }, async (req, reply) => asOperation(req, reply, s, 'store-verify', null, (progress) => s.templates.verify(progress)));

  // The first paths of these operations, kept for older clients and scripts.
  app.post('/v1/templates-capture', { config: { scope: 'templates:write' }, schema: { ...t, ...older('POST /v1/templates/{name}/captures'), ...async, body: CaptureRequest, response: long } },
    async (req, reply) => runCapture(s, req.body, req, reply));
  app.post('/v1/templates-capture/:name/finish', { config: { scope: 'templates:write' }, schema: { ...t, ...older('POST /v1/templates/{name}/captures/{session}/finish'), params: NameParams, ...async, response: long } },
    async (req, reply) => asOperation(req, reply, s, 'template-capture', req.params.name, (progress) => s.captures.finish(req.params.name, progress)));
  app.delete('/v1/templates-capture/:name', { config: { scope: 'templates:write' }, schema: { ...t, ...older('DELETE /v1/templates/{name}/captures/{session}'), params: NameParams, response: { 200: Aborted } } },
    async (req) => { await s.captures.abort(req.params.name); return { aborted: req.params.name }; });
  app.post('/v1/templates/:name/export', { config: { scope: 'templates:write' }, schema: { ...t, ...older('POST /v1/templates/{name}/exports'), params: NameParams, ...async, body: ExportRequest, response: long } },
    async (req, reply) => exportTemplate(s, req.params.name, req.body, req, reply));
  app.post('/v1/templates-import', { config: { scope: 'templates:write' }, schema: { ...t, ...older('POST /v1/template-imports'), ...async, body: ImportRequest, response: long } },
    async (req, reply) => importTemplate(s, req.body, req, reply));
  app.get('/v1/templates-df', { config: { scope: 'admin' }, schema: { ...t, ...older('GET /v1/template-usage'), response: { 200: TemplateDf } } }, async () => s.templates.df());
  app.post('/v1/templates-verify', { config: { scope: 'admin' }, schema: { ...t, ...older('POST /v1/store/verifications'), ...async, response: long } },
    async (req, reply) => asOperation(req, reply, s, 'store-verify', null, (progress) => s.templates.verify(progress)));
}

/** An interactive capture answers its session (a stream, never an operation: it waits for a shell); a scripted one runs as an operation. */
function runCapture(s: Services, body: CaptureRequest, req: FastifyRequest, reply: FastifyReply) {
  s.captures.check(body);
  if (body.interactive) {
    if (wantsAsync(req)) throw new InvalidArgument('an interactive capture answers the session whose shell it waits for: it cannot run as an operation; ask for it without Prefer: respond-async or async=true');
    return streamed(reply, (progress) => s.captures.begin(body, progress));
  }
  return asOperation(req, reply, s, 'template-capture', body.name, (progress, signal) => s.captures.run(body, progress, signal));
}

function exportTemplate(s: Services, name: string, body: ExportRequest, req: FastifyRequest, reply: FastifyReply) {
  const t = s.templates.get(name);
  if (t.kind === 'app') s.templates.apps.get(name, body.version);
  return asOperation(req, reply, s, 'template-export', name, (progress, signal) => s.templates.export(name, body.file, progress, body.version, signal));
}

async function importTemplate(s: Services, body: ImportRequest, req: FastifyRequest, reply: FastifyReply) {
  const name = await s.templates.checkImport(body.file, body.name);
  return asOperation(req, reply, s, 'template-import', name, (progress, signal) => s.templates.import(body.file, body.name, progress, signal));
}
