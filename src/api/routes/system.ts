/** The daemon itself: facts, events, and this API's own OpenAPI document. */
import { Type } from 'typebox';
import { Event, Info } from '../types.js';
import { tag, type App, type Services } from '../http.js';

const t = tag('system');

export function systemRoutes(app: App, s: Services): void {
  app.get('/v1/info', { schema: { ...t, summary: "The daemon's version, data root, drivers and host facts", response: { 200: Info } } }, async () => s.info);
  app.get('/v1/events', { schema: { ...t, summary: 'The last 200 events, oldest first', response: { 200: Type.Array(Event) } } }, async () => s.store.listEvents(200));
  app.get('/v1/openapi.json', { schema: { ...t, summary: 'This API as an OpenAPI 3 document' } }, async () => app.swagger());
}
