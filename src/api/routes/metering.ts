/** Metering: usage series of a container and of a tenant, a tenant's monthly ledger, and Prometheus' /metrics (docs/metrics.md). */
import { Type } from 'typebox';
import { VERSION } from '../../config/index.js';
import { scopeTenant } from '../../access/index.js';
import { NotFound, PermissionDenied } from '../../errors/index.js';
import { MeterMetrics } from '../../metering/index.js';
import { ContainerUsageSeries, LedgerQuery, NameParams, TenantParams, TenantUsageSeries, UsageLedger, UsageSeriesQuery } from '../types.js';
import { tag, type App, type Services } from '../http.js';

const t = tag('metering');
/** The tenant of the host's own containers in a path. */
const HOST = '-';
const tenantOf = (param: string): string | null => (param === HOST ? null : param);
const Exposition = Type.Unsafe<string>({ type: 'string', description: 'the Prometheus text exposition format 0.0.4 (docs/metrics.md)' });

export function meteringRoutes(app: App, s: Services): void {
  const metrics = new MeterMetrics(s.meter, VERSION);
  app.get('/v1/containers/:name/usage/series', {
    config: { scope: 'metering:read' },
    schema: { ...t, summary: "A container's usage over time (also of a destroyed one, while its points are kept)", params: NameParams, querystring: UsageSeriesQuery, response: { 200: ContainerUsageSeries } },
  }, async (req) => {
    // The permission check knows a container's tenant from its record: a destroyed one's points are the host's to read, its tenant's through the ledger.
    const tenant = scopeTenant(req.caller);
    if (tenant !== null && !s.store.getContainer(req.params.name)) {
      throw new PermissionDenied(`container ${req.params.name} is not one of tenant ${tenant}'s (a destroyed container's usage is in the tenant's ledger)`);
    }
    const series = s.meter.series(req.params.name, req.query);
    // A destroyed container's points are still answered; a name never metered is most likely a typo.
    if (!series.points.length && !s.store.getContainer(req.params.name)) {
      throw new NotFound(`container ${req.params.name} does not exist and has no recorded usage in this range: see 'strata list'`);
    }
    return { container: req.params.name, ...series };
  });
  app.get('/v1/tenants/:tenant/usage/series', {
    config: { scope: 'metering:read' },
    schema: { ...t, summary: "A tenant's usage over time, summed over its containers (`-`: the host's own)", params: TenantParams, querystring: UsageSeriesQuery, response: { 200: TenantUsageSeries } },
  }, async (req) => ({ tenant: req.params.tenant, ...s.meter.tenantSeries(tenantOf(req.params.tenant), req.query) }));
  app.get('/v1/tenants/:tenant/usage/ledger', {
    config: { scope: 'metering:read' },
    schema: { ...t, summary: "A tenant's usage in one calendar month (UTC), per container and in total", params: TenantParams, querystring: LedgerQuery, response: { 200: UsageLedger } },
  }, async (req) => ({ ...s.meter.ledger(tenantOf(req.params.tenant), req.query.month), tenant: req.params.tenant }));
  app.get('/metrics', {
    config: { scope: 'admin' },
    schema: { ...t, summary: "Prometheus metrics of every container and tenant, from the meter's newest readings", response: { 200: { description: 'the metrics', content: { 'text/plain': { schema: Exposition } } } } },
  }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));
}
