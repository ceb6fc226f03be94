/**
 * What a container looks like to clients (`inspect`, `list`): its record, layout, network and
 * application templates in one plain object. Reads only; `list` reads the network summaries and
 * attachments once for all containers instead of per container.
 */
import type { Limits } from '../resources/index.js';
import type { IdMap } from '../runtime/index.js';
import type { ContainerRecord, LastExit, Store } from '../state/index.js';
import type { AdapterView, Networks, PortView } from '../network/index.js';
import type { ContainerContext } from './context.js';

export interface ContainerView {
  name: string;
  state: ContainerRecord['state'];
  pid: number | null;
  template: string;
  hostname: string;
  privileged: boolean;
  autostart: boolean;
  rootfs: string;
  privateArea: string;
  consoleLog: string;
  idMap: IdMap | null;
  limits: Limits;
  /** One per network: its name, the address (CIDR), gateway and MAC. */
  adapters: Array<Pick<AdapterView, 'network' | 'ifname' | 'address' | 'gateway' | 'mac'>>;
  ports: PortView[];
  /** Attached application templates, bottom (first attached) to top. */
  apps: Array<{ template: string; version: number; position: number; live: boolean; attachedAt: string }>;
  netIn: string | null;
  netOut: string | null;
  /** Both directions held to this rate while its tenant is over its monthly traffic, or null. */
  throttled: string | null;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  /** How its init last ended (status or signal, when, and whether by itself); null before it first did. */
  lastExit: LastExit | null;
  /** The tenant that owns it; null: the host's own. */
  tenant: string | null;
}

/** The columns of the `strata list` table. */
export type BriefView = Pick<ContainerView, 'name' | 'state' | 'pid' | 'template' | 'hostname' | 'startedAt' | 'tenant'>;

/** What list() reads once for all containers instead of per container. */
export interface ListBulk {
  net: ReturnType<Networks['summaries']>;
  apps: ReturnType<Store['allContainerApps']>;
}

export function viewOf(ctx: ContainerContext, c: ContainerRecord, bulk?: ListBulk): ContainerView {
  const l = ctx.storage.layout(c.name);
  const networks = ctx.host.networks;
  const net = bulk ? bulk.net.get(c.name) : { adapters: networks.adapters(c.name), ports: networks.listPorts(c.name), bandwidth: networks.bandwidth(c.name) };
  const apps = bulk ? (bulk.apps.get(c.name) ?? []) : ctx.store.containerApps(c.name);
  return {
    name: c.name, state: c.state, pid: c.pid, template: c.template, hostname: c.hostname,
    privileged: c.privileged, autostart: c.autostart, rootfs: ctx.rootPathOf(c), privateArea: l.privateArea,
    consoleLog: l.consoleLog, idMap: ctx.idMapOf(c) ?? null, limits: c.limits as Limits,
    adapters: (net?.adapters ?? []).map((a) => ({ network: a.network, ifname: a.ifname, address: a.address, gateway: a.gateway, mac: a.mac })),
    ports: net?.ports ?? [],
    apps: apps.map((a) => ({ template: a.template, version: a.version, position: a.position, live: a.live, attachedAt: a.attachedAt })),
    ...(net?.bandwidth ?? { netIn: null, netOut: null, throttled: null }),
    createdAt: c.createdAt, startedAt: c.startedAt, stoppedAt: c.stoppedAt, lastExit: c.lastExit ?? null, tenant: c.tenant ?? null,
  };
}

/** What the `strata list` table shows, straight from the records: cheap for thousands. */
export function listBrief(ctx: ContainerContext): BriefView[] {
  return ctx.store.listContainers().map((c) => ({ name: c.name, state: c.state, pid: c.pid, template: c.template, hostname: c.hostname, startedAt: c.startedAt, tenant: c.tenant ?? null }));
}

export function listViews(ctx: ContainerContext): ContainerView[] {
  const bulk: ListBulk = { net: ctx.host.networks.summaries(), apps: ctx.store.allContainerApps() };
  return ctx.store.listContainers().map((c) => viewOf(ctx, c, bulk));
}
