/** Published ports: host ports forwarded to a container's first address, live. */
import { Conflict, FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';
import { driverOf, type NetContext } from './context.js';
import { hostPortInUse, parsePortSpec, type PortSpec, type Proto } from './ports.js';
import { applyRules } from './tables.js';
import { portView, type PortView } from './views.js';

export function checkPortFree(ctx: NetContext, p: PortSpec): void {
  const owner = ctx.records.portOwner(p.proto, p.hostPort);
  if (owner) throw new Conflict(`host port ${p.hostPort}/${p.proto} is already published for container ${owner}: choose another host port`);
  if (hostPortInUse(p.hostPort, p.proto)) {
    throw new Conflict(`host port ${p.hostPort}/${p.proto} is already in use by a process on the host: choose another host port`);
  }
}

/** Publishes a port of a container, live. */
export async function addPort(ctx: NetContext, container: string, spec: string): Promise<PortView> {
  ctx.mustCont(container);
  const p = parsePortSpec(spec);
  const primary = ctx.adapterRows(container)[0];
  if (!primary) throw new FailedPrecondition(`container ${container} has no network adapter: ports need a container created with a network`);
  const first = ctx.mustNet(primary.network);
  if (!driverOf(first).capabilities.publishPorts) {
    throw new InvalidArgument(`network ${first.name} uses the ${first.driver} driver, which cannot publish ports: reach ${container} at its own address ${primary.address.split('/')[0]}, or give it a bridge network first`);
  }
  checkPortFree(ctx, p);
  ctx.records.insertPort({ container, proto: p.proto, host_port: p.hostPort, container_port: p.containerPort });
  const net = ctx.mustNet(primary.network);
  try {
    await applyRules(ctx, net);
  } catch (err) {
    ctx.records.deletePort(p.proto, p.hostPort);
    await applyRules(ctx, net).catch(() => undefined);
    throw err;
  }
  return listPorts(ctx, container).find((v) => v.hostPort === p.hostPort && v.proto === p.proto)!;
}

/** Stops publishing a port, live. */
export async function removePort(ctx: NetContext, container: string, spec: string): Promise<void> {
  ctx.mustCont(container);
  const m = /^\s*(\d{1,5})(?::(\d{1,5}))?(?:\/(tcp|udp))?\s*$/i.exec(String(spec));
  if (!m) throw new InvalidArgument(`invalid port ${JSON.stringify(spec)}: write HOSTPORT[:CTPORT][/tcp|/udp], e.g. 8080:80/tcp`);
  const proto = (m[3]?.toLowerCase() ?? 'tcp') as Proto;
  const row = ctx.records.port(container, proto, Number(m[1]));
  if (!row || (m[2] !== undefined && row.container_port !== Number(m[2]))) {
    throw new NotFound(`container ${container} publishes no port ${spec}: see \`strata port list ${container}\``);
  }
  ctx.records.deletePort(proto, row.host_port);
  const primary = ctx.adapterRows(container)[0];
  if (primary) {
    try {
      await applyRules(ctx, ctx.mustNet(primary.network));
    } catch (err) {
      ctx.records.insertPort(row);
      throw err;
    }
  }
}

export function listPorts(ctx: NetContext, container: string): PortView[] {
  const primary = ctx.adapterRows(container)[0];
  return ctx.records.portsOf(container).map((p) => portView(p, primary?.address));
}
