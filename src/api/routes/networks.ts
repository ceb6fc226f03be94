/** Networks: create, inspect, remove. (Published ports are a container's: routes/containers.ts.) */
import { Type } from 'typebox';
import { CreateNetworkRequest, NameParams, NetworkView, Removed } from '../types.js';
import { tag, type App, type Services } from '../http.js';

const t = tag('networks');

export function networkRoutes(app: App, s: Services): void {
  app.get('/v1/networks', { config: { scope: 'networks:read' }, schema: { ...t, summary: 'List networks', response: { 200: Type.Array(NetworkView) } } }, async () => s.networks.list());
  app.get('/v1/networks/:name', { config: { scope: 'networks:read' }, schema: { ...t, summary: 'Inspect a network', params: NameParams, response: { 200: NetworkView } } },
    async (req) => s.networks.inspect(req.params.name));
  app.post('/v1/networks', { config: { scope: 'networks:write' }, schema: { ...t, summary: 'Create a network', body: CreateNetworkRequest, response: { 201: NetworkView } } },
    async (req, reply) => reply.status(201).send(await s.networks.create(req.body)));
  app.delete('/v1/networks/:name', { config: { scope: 'networks:write' }, schema: { ...t, summary: 'Remove a network', params: NameParams, response: { 200: Removed } } },
    async (req) => { await s.networks.remove(req.params.name); return { removed: req.params.name }; });
}
