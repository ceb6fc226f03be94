/**
 * network: virtual adapters for containers through CNI. A network is a bridge
 * with an IPv4 subnet, a NAT/port/filter rule table and anti-spoofing rules; a
 * container gets a veth on each of its networks, with an address Strata
 * allocates itself (SQLite, stable across restarts) and hands to the standard
 * `bridge` plugin through the `static` IPAM (runc brings lo up itself) and
 * `bandwidth` shapes both directions. Published ports, isolation and
 * anti-spoofing are Strata's own nftables tables, one pair per network (see
 * rules.ts); every host change a network makes is journalled and undone when it
 * is removed.
 *
 * It is not the orchestration: it never starts processes or writes container
 * files; the caller gives it a pid and writes `containerNetFiles` itself.
 *
 * This file is the facade: the verbs and the one lock every change takes (they share bridges and
 * rule tables); the work is in files named for it: networks.ts, plans.ts, attach.ts, publish.ts,
 * tables.ts, counters.ts, reconcile.ts, over context.ts (records and lookups) and views.ts. What
 * makes a network's segment is its driver (driver.ts, drivers/).
 *
 * Lifecycle, as the orchestration drives it:
 *
 *   await nets.ensureDefault();                              // daemon set-up
 *   await nets.plan('web', { nets: ['default'], ports: ['8080:80'], netOut: '10mbit' }); // create
 *   const adapters = await nets.attach('web', pid, 'web');   // start: pins the netns, CNI ADD
 *   const files = containerNetFiles('web', adapters, hostNameservers());
 *   await nets.addPort('web', '8443:443');                   // live
 *   nets.counters('web');                                    // stats, cumulative
 *   await nets.detach('web');                                // stop: CNI DEL, counters folded
 *   await nets.release('web');                               // destroy: address and ports freed
 */
import type Database from 'better-sqlite3';
import type { NetRow } from '../state/index.js';
import { SharedLock } from '../util/shared-lock.js';
import { attachContainer, detachContainer, setRates, type Render } from './attach.js';
import { applyRules } from './tables.js';
import { vethName } from './names.js';
import { NetContext } from './context.js';
import { adapters, allCounters, counters, summaries } from './counters.js';
import { createNetwork, ensureDefaultNetwork, removeNetwork } from './networks.js';
import { planContainer } from './plans.js';
import { addPort, listPorts, removePort } from './publish.js';
import { reconcile, repairNetworks } from './reconcile.js';
import { observe } from './counters.js';
import { bandwidthView, type AdapterView, type BandwidthView, type CreateNetworkRequest, type NetworkView, type PlanRequest, type PortView, type TrafficCounters } from './views.js';

export { containerNetFiles, hostNameservers } from './files.js';
export type { AdapterView, BandwidthView, CreateNetworkRequest, NetworkView, PlanRequest, PortView, TrafficCounters } from './views.js';

export class Networks {
  private readonly ctx: NetContext;
  private readonly lock = new SharedLock();

  constructor(db: Database.Database, opts: { rootId: string; runDir: string; cniPath?: string }) {
    this.ctx = new NetContext(db, opts);
  }

  /** Changes of networks, ports and rates run alone: they share bridges and rule tables. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    return this.lock.exclusive(work);
  }

  /**
   * Attaches and detaches of different containers run together (the orchestrator orders a
   * container's own): the adapter's join is most of a start's network time. Each adds and
   * removes only its own set elements; a whole render of a network's rules (the rare
   * case where that small change failed) waits until no attach or detach is under way. One of a
   * container with published ports runs alone, as its rules are rendered whole.
   */
  private together<T>(container: string, work: (render: Render) => Promise<T>): Promise<T> {
    if (this.ctx.hasPorts(container)) return this.serial(() => work((net) => applyRules(this.ctx, net)));
    const deferred = new Map<string, NetRow>();
    const render: Render = async (net) => { deferred.set(net.name, net); };
    const renderDeferred = (): Promise<void> => (deferred.size === 0 ? Promise.resolve() : this.serial(async () => {
      for (const name of deferred.keys()) {
        const net = this.ctx.net(name);
        if (net) await applyRules(this.ctx, net);
      }
    }));
    return this.lock.shared(() => work(render)).then(
      async (result) => { await renderDeferred(); return result; },
      async (err: unknown) => { await renderDeferred().catch(() => undefined); throw err; },
    );
  }

  // Networks

  create(req: CreateNetworkRequest): Promise<NetworkView> {
    return this.serial(() => createNetwork(this.ctx, req));
  }

  list(): NetworkView[] {
    return this.ctx.records.networks().map((n) => this.ctx.view(n));
  }

  inspect(name: string): NetworkView {
    return this.ctx.view(this.ctx.mustNet(name));
  }

  remove(name: string): Promise<void> {
    return this.serial(() => removeNetwork(this.ctx, name));
  }

  ensureDefault(): Promise<NetworkView> {
    return this.serial(() => ensureDefaultNetwork(this.ctx));
  }

  // Container plans, attach and detach

  plan(container: string, req: PlanRequest): Promise<void> {
    // Without a default network to make first, a plan is database work only and never awaits:
    // it runs whole at once (atomic in this process) instead of queueing behind other
    // containers' attaches.
    if (req.noNet || req.nets?.length || this.ctx.net('default')) return planContainer(this.ctx, container, req);
    return this.serial(() => planContainer(this.ctx, container, req));
  }

  attach(container: string, pid: number, hostname: string): Promise<AdapterView[]> {
    void hostname; // the hostname goes into /etc/hosts through containerNetFiles; CNI does not need it
    return this.together(container, (render) => attachContainer(this.ctx, container, pid, render));
  }

  /** `initGone`: the container's processes have ended (see detachContainer). */
  detach(container: string, initGone = false): Promise<void> {
    return this.together(container, (render) => detachContainer(this.ctx, container, initGone, render));
  }

  release(container: string, initGone = false): Promise<void> {
    return this.together(container, async (render) => {
      await detachContainer(this.ctx, container, initGone, render);
      this.ctx.records.deleteContainer(container);
    });
  }

  /** The host interface name a container's adapter on `network` has (they are named after the container: a rename gives new ones). */
  hostIfname(container: string, network: string): string {
    return vethName(this.ctx.rootId, container, network);
  }

  // Rates and published ports

  setBandwidth(container: string, rates: { netIn?: string | null; netOut?: string | null }): Promise<void> {
    return this.serial(() => setRates(this.ctx, container, rates));
  }

  /**
   * Holds every rate of a container to `bitsPerSecond` at most (its tenant over its traffic quota),
   * live and at its next attach; null lifts it, and the container's own rates are back as they were.
   * Adapters of drivers that cannot shape (macvlan) are not held.
   */
  throttle(container: string, bitsPerSecond: number | null): Promise<void> {
    return this.serial(() => setRates(this.ctx, container, { cap: bitsPerSecond }));
  }

  bandwidth(container: string): BandwidthView {
    return bandwidthView(this.ctx.cont(container));
  }

  addPort(container: string, spec: string): Promise<PortView> {
    return this.serial(() => addPort(this.ctx, container, spec));
  }

  removePort(container: string, spec: string): Promise<void> {
    return this.serial(() => removePort(this.ctx, container, spec));
  }

  listPorts(container: string): PortView[] {
    return listPorts(this.ctx, container);
  }

  // Adapters and counters

  /**
   * adapters, listPorts and bandwidth of every container at once (a few queries in all, not a few
   * per container): what `strata list` needs for a thousand containers.
   */
  summaries(): Map<string, { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView }> {
    return summaries(this.ctx);
  }

  adapters(container: string): AdapterView[] {
    return adapters(this.ctx, container);
  }

  counters(container: string): TrafficCounters {
    return counters(this.ctx, container);
  }

  /** The cumulative counters of every container at once (the meter's tick). */
  allCounters(): Map<string, TrafficCounters> {
    return allCounters(this.ctx);
  }

  // Periodic work and daemon start

  sync(): Promise<void> {
    return this.serial(async () => {
      for (const a of this.ctx.records.attachedAdapters()) observe(this.ctx, a);
      await repairNetworks(this.ctx);
    });
  }

  reconcile(runningContainers: Set<string>, pids?: ReadonlyMap<string, number>): Promise<string[]> {
    return this.serial(() => reconcile(this.ctx, runningContainers, pids));
  }
}
