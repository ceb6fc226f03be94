/** Attaching a container's adapters to its networks at start (the driver's own join, or its CNI plugin's ADD, in the init's namespace) and detaching them at stop; rates on the host ends. */
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import type { AdRow, ContRow, NetRow } from '../state/index.js';
import { stopwatch } from '../util/profile.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { Reverter } from '../util/reverter.js';
import { bandwidthConf, type CniResult, type CniRuntime, invoke } from './cni.js';
import { driverOf, specOf, type NetContext } from './context.js';
import { adapters, foldAndDetach, observe } from './counters.js';
import { clearShaping, deleteLink, isPinned, linkExists, linkStats, pinnedTo, pinNetns, pinPath, unpinNetns } from './host.js';
import { cniNetworkName, ifbName } from './names.js';
import { burstFor, parseRate } from './rates.js';
import { applyRules, portRules } from './tables.js';
import type { AdapterView } from './views.js';

/**
 * Renders a network's rule tables whole. Attaches and detaches of different containers run at the
 * same time, and a whole render must not run among them (it would drop the set elements of an attach
 * not yet recorded): they are given a `render` that defers it until they are done (index.ts).
 */
export type Render = (net: NetRow) => Promise<void>;

/** Bridges re-created one at a time, when attaches find one missing together. */
const hostChecks = new KeyedLock();

export async function attachContainer(ctx: NetContext, container: string, pid: number, render: Render = (net) => applyRules(ctx, net)): Promise<AdapterView[]> {
  let c = ctx.cont(container);
  if (!c) {
    // A container created before it had a network plan: its own namespace with loopback only.
    ctx.records.insertContainer(container, true);
    c = ctx.cont(container)!;
  }
  const ns = ctx.nsPath(container);
  const rows = ctx.adapterRows(container);
  // --no-net: nothing to attach. The runtime brings up loopback in every new network namespace.
  if (rows.length === 0 && !c.netns) return [];
  if (c.netns && pinnedTo(ns, pid) && rows.every((a) => a.attached && linkExists(a.host_ifname))) return adapters(ctx, container);
  if (c.netns || rows.some((a) => a.attached) || isPinned(ns)) await detachContainer(ctx, container, false, render);

  const r = new Reverter();
  const sw = stopwatch(`network attach ${container}`);
  try {
    // Pinning the namespace and adding the anti-spoofing rules do not depend on the veth: they run
    // while the adapter is joined (the join is handed the init's own namespace path). All of it
    // is done before the init starts, so no frame leaves the container unchecked.
    const pinning = pinNetns(ns, pid);
    pinning.catch(() => undefined);
    r.add(async () => { await pinning.catch(() => undefined); await unpinNetns(ns); });
    const nets = new Map(rows.map((a) => [a.network, ctx.mustNet(a.network)]));
    const filtered = new Map([...nets].filter(([, n]) => driverOf(n).capabilities.hostSideAdapter));
    const filteredRows = rows.filter((a) => filtered.has(a.network));
    const ruling = ctx.hasPorts(container) ? Promise.resolve(false) : portRules(ctx, 'add', filteredRows, filtered);
    ruling.catch(() => undefined);
    r.add(async () => {
      if (!(await ruling.catch(() => false))) return;
      if (!(await portRules(ctx, 'remove', filteredRows, filtered))) for (const net of filtered.values()) await render(net);
    });
    const liveNs = `/proc/${pid}/ns/net`;
    r.add(() => ctx.records.setNetns(container, null));

    // No loopback plugin: runc brings lo up in every new network namespace itself.
    for (const a of rows) {
      const net = nets.get(a.network)!;
      const driver = driverOf(net);
      await hostChecks.run(net.name, () => driver.ensureHost(specOf(net)));
      const rt = ctx.runtime(container, liveNs, a.ifname);
      // Undone while the namespace is still held (its pin is let go last).
      const pinned = (): CniRuntime => ({ ...rt, netns: pinPath(ns) });
      // The same container's port from its last run, still going with its namespace: gone now.
      if (linkExists(a.host_ifname)) await deleteLink(a.host_ifname);
      sw.lap('bridge-check');
      if (!driver.join) {
        // A plugin's adapter, with no host end (a driver with one joins by itself): no port,
        // rates or counters there.
        const conf = ctx.adapterConfOf(a, net);
        r.add(async () => {
          await pinning.catch(() => undefined);
          await invoke('DEL', conf, pinned()).catch(() => undefined);
        });
        const result = (await invoke('ADD', conf, rt))!;
        sw.lap('cni-add');
        ctx.records.markAttached(container, a.network, JSON.stringify(result), null);
        continue;
      }
      // Its host end, deleted, takes the container's end with it.
      r.add(() => deleteLink(a.host_ifname));
      const result = await driver.join(specOf(net), ctx.adapterSpecOf(a, net), { netns: liveNs, ifname: a.ifname, port: a.host_ifname });
      sw.lap('join');
      r.add(() => unshape(ctx, c!, a, net, result, pinned()));
      await shape(ctx, c, a, net, result, rt);
      ctx.records.markAttached(container, a.network, JSON.stringify(result), linkStats(a.host_ifname)?.ifindex ?? null);
    }
    r.add(async () => {
      ctx.records.markDetached(container);
      for (const net of filtered.values()) await render(net);
    });
    sw.lap('shape+db');
    await pinning;
    ctx.records.setNetns(container, ns);
    if (!(await ruling.catch(() => false))) for (const net of filtered.values()) await render(net);
    sw.lap('pin+nft');
    sw.done();
    r.success();
  } finally {
    await r.fail();
  }
  return adapters(ctx, container);
}

/**
 * Takes a container's adapters down. `initGone`: its processes have ended (a stop, a destroy), so
 * its namespace is let go first and the kernel removes it with both ends of each veth, later and
 * in a batch, as it does for any namespace left empty. Otherwise each veth is deleted here (its
 * host end, or a plugin's DEL in the namespace), waiting for the network stack (about 16 ms each
 * on this kernel).
 */
export async function detachContainer(ctx: NetContext, container: string, initGone = false, render: Render = (net) => applyRules(ctx, net)): Promise<void> {
  const c = ctx.cont(container);
  if (!c) return;
  const ns = c.netns ?? ctx.nsPath(container);
  if (initGone) await unpinNetns(ns);
  const netns = pinPath(ns);
  const failures: unknown[] = [];
  const touched = new Map<string, NetRow>();
  const attached = ctx.adapterRows(container).filter((x) => x.attached);
  const hostSide = attached.filter((a) => driverOf(ctx.mustNet(a.network)).capabilities.hostSideAdapter);
  // Its rules go while the adapters are taken down (the container's processes are gone by now); with
  // published ports the tables are rendered whole afterwards instead.
  const unruling = !ctx.hasPorts(container) && hostSide.length > 0
    ? portRules(ctx, 'remove', hostSide, new Map(hostSide.map((a) => [a.network, ctx.mustNet(a.network)])))
    : Promise.resolve(false);
  unruling.catch(() => undefined);
  for (const a of attached) {
    const net = ctx.mustNet(a.network);
    if (driverOf(net).capabilities.hostSideAdapter) touched.set(net.name, net);
    observe(ctx, a);
    const rt = ctx.runtime(container, netns, a.ifname);
    const result = a.cni_result ? (JSON.parse(a.cni_result) as CniResult) : undefined;
    await unshape(ctx, c, a, net, result, rt).catch((err: unknown) => failures.push(err));
    // A driver that joins by itself leaves with the host end (below) or the namespace; one that
    // was joined by an older Strata's plugin too: its DEL did no more (static addresses, no masquerade).
    if (!driverOf(net).join) {
      await invoke('DEL', { ...ctx.adapterConfOf(a, net), ...(result ? { prevResult: result } : {}) }, rt).catch((err: unknown) => failures.push(err));
    }
    if (!initGone) await deleteLink(a.host_ifname);
    foldAndDetach(ctx, container, a.network);
  }
  await unpinNetns(ns);
  ctx.records.setNetns(container, null);
  // Published ports, or the small change failed: render the tables whole, now without it.
  if (!(await unruling.catch(() => false))) for (const net of touched.values()) await render(net);
  const left = initGone ? [] : ctx.adapterRows(container).filter((a) => linkExists(a.host_ifname));
  if (left.length > 0 && failures.length > 0) {
    const first = failures[0];
    throw first instanceof Error ? first : new Error(String(first));
  }
}

/** The rates in force: the container's own, each at most its cap while its tenant is throttled. */
function effective(c: ContRow): { netIn: number | null; netOut: number | null } {
  const capped = (r: number | null): number | null => (c.rate_cap ? Math.min(r ?? c.rate_cap, c.rate_cap) : r);
  return { netIn: capped(c.net_in), netOut: capped(c.net_out) };
}

function bandwidthOf(ctx: NetContext, c: ContRow, net: NetRow, result: CniResult): ReturnType<typeof bandwidthConf> {
  const r = effective(c);
  return bandwidthConf(cniNetworkName(ctx.rootId, net.name), r, { inBurst: burstFor(r.netIn ?? 0), outBurst: burstFor(r.netOut ?? 0) }, result);
}

async function shape(ctx: NetContext, c: ContRow, a: AdRow, net: NetRow, result: CniResult | undefined, rt: CniRuntime): Promise<void> {
  const r = effective(c);
  if ((!r.netIn && !r.netOut) || !result || !linkExists(a.host_ifname) || !driverOf(net).capabilities.bandwidth) return;
  await invoke('ADD', bandwidthOf(ctx, c, net, result), rt);
}

async function unshape(ctx: NetContext, c: ContRow, a: AdRow, net: NetRow, result: CniResult | undefined, rt: CniRuntime): Promise<void> {
  // A driver that cannot shape (macvlan) was never shaped, capped or not.
  if (!driverOf(net).capabilities.bandwidth) return;
  const r = effective(c);
  if (r.netOut && result) await invoke('DEL', bandwidthOf(ctx, c, net, result), rt);
  // Rates removed live were cleared then; without rates there is nothing to clear.
  if (r.netIn || r.netOut) await clearShaping(a.host_ifname);
  await deleteLink(ifbName(cniNetworkName(ctx.rootId, net.name), rt.containerId));
}

/** Changes a container's rates, live on its attached adapters; back as they were when that fails. */
export async function setRates(ctx: NetContext, container: string, rates: { netIn?: string | null; netOut?: string | null; cap?: number | null }): Promise<void> {
  const c = ctx.mustCont(container);
  const pick = (v: string | null | undefined, cur: number | null, what: string): number | null =>
    v === undefined ? cur : v === null || v === '' ? null : parseRate(v, what);
  const next: ContRow = {
    ...c, net_in: pick(rates.netIn, c.net_in, 'inbound rate (--net-in)'), net_out: pick(rates.netOut, c.net_out, 'outbound rate (--net-out)'),
    rate_cap: rates.cap === undefined ? c.rate_cap : rates.cap,
  };
  if (c.no_net && (next.net_in || next.net_out)) {
    throw new FailedPrecondition(`container ${container} has no network adapter (--no-net): bandwidth limits need one`);
  }
  const unshaped = (next.net_in || next.net_out) ? ctx.adapterRows(container).map((a) => ctx.mustNet(a.network)).find((n) => !driverOf(n).capabilities.bandwidth) : undefined;
  if (unshaped) throw new InvalidArgument(`network ${unshaped.name} uses the ${unshaped.driver} driver, which cannot limit rates: rates need a bridge network`);
  const live = ctx.adapterRows(container).filter((a) => a.attached);
  const reshape = async (from: ContRow, to: ContRow): Promise<void> => {
    for (const a of live) {
      const net = ctx.mustNet(a.network);
      const result = a.cni_result ? (JSON.parse(a.cni_result) as CniResult) : undefined;
      const rt = ctx.runtime(container, c.netns ? pinPath(c.netns) : '', a.ifname);
      await unshape(ctx, from, a, net, result, rt);
      await shape(ctx, to, a, net, result, rt);
    }
  };
  try {
    await reshape(c, next);
  } catch (err) {
    await reshape(next, c).catch(() => undefined);
    throw err;
  }
  ctx.records.setRates(container, next.net_in, next.net_out);
  if (next.rate_cap !== c.rate_cap) ctx.records.setRateCap(container, next.rate_cap);
}
