/** Adapters as the views show them, and traffic counters kept across veth lifetimes. */
import type { AdBrief } from '../state/index.js';
import type { NetContext } from './context.js';
import { linkStats, linkStatsOfAll, type LinkStats } from './host.js';
import { type AdapterView, adapterView, type BandwidthView, bandwidthView, portView, type PortView, type TrafficCounters } from './views.js';

/**
 * adapters, listPorts and bandwidth of every container at once (a few queries in all, not a few
 * per container): what `strata list` needs for a thousand containers.
 */
export function summaries(ctx: NetContext): Map<string, { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView }> {
  const out = new Map<string, { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView }>();
  const entry = (container: string): { adapters: AdapterView[]; ports: PortView[]; bandwidth: BandwidthView } => {
    let e = out.get(container);
    if (!e) { e = { adapters: [], ports: [], bandwidth: { netIn: null, netOut: null, throttled: null } }; out.set(container, e); }
    return e;
  };
  const gateways = new Map(ctx.records.networks().map((n) => [n.name, n.gateway]));
  for (const a of ctx.records.adapters()) {
    entry(a.container).adapters.push(adapterView(a, gateways.get(a.network)));
  }
  for (const p of ctx.records.ports()) {
    const e = entry(p.container);
    e.ports.push(portView(p, e.adapters[0]?.address));
  }
  for (const c of ctx.records.ratedContainers()) {
    entry(c.container).bandwidth = bandwidthView(c);
  }
  return out;
}

export function adapters(ctx: NetContext, container: string): AdapterView[] {
  return ctx.adapterRows(container).map((a) => adapterView(a, ctx.net(a.network)?.gateway));
}

/** Reads the live veth counters into the record; a new veth lifetime (ifindex changed, or counters fell) folds the old one first. */
export function observe(ctx: NetContext, a: AdBrief, read: (name: string) => LinkStats | null = linkStats): void {
  if (!a.attached) return;
  const live = read(a.host_ifname);
  if (!live) return;
  // The host end receives what the container sends, and sends what it receives.
  const now = { rx: live.txBytes, tx: live.rxBytes, rxp: live.txPackets, txp: live.rxPackets };
  const reset = a.seen_ifindex !== live.ifindex || now.rx < a.seen_rx_bytes || now.tx < a.seen_tx_bytes ||
    now.rxp < a.seen_rx_packets || now.txp < a.seen_tx_packets;
  if (!reset && now.rx === a.seen_rx_bytes && now.tx === a.seen_tx_bytes && now.rxp === a.seen_rx_packets && now.txp === a.seen_tx_packets) return;
  ctx.records.transaction(() => {
    if (reset) ctx.records.addTotals(a);
    ctx.records.setSeen(a.container, a.network, { ifindex: live.ifindex, ...now });
  });
}

export function foldAndDetach(ctx: NetContext, container: string, network: string): void {
  ctx.records.transaction(() => {
    const a = ctx.records.adapter(container, network);
    if (a) ctx.records.addTotals(a);
    ctx.records.resetAdapter(container, network);
  });
}

export function counters(ctx: NetContext, container: string): TrafficCounters {
  for (const a of ctx.adapterRows(container)) observe(ctx, a);
  const c = ctx.cont(container);
  if (!c) return { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  const sum = { rxBytes: c.rx_bytes, txBytes: c.tx_bytes, rxPackets: c.rx_packets, txPackets: c.tx_packets };
  for (const a of ctx.adapterRows(container)) {
    sum.rxBytes += a.seen_rx_bytes; sum.txBytes += a.seen_tx_bytes; sum.rxPackets += a.seen_rx_packets; sum.txPackets += a.seen_tx_packets;
  }
  return sum;
}

/**
 * The cumulative counters of every container with a network plan, fresh from the live veths (one
 * transaction in all, a few queries): what the meter reads each tick for a thousand containers.
 */
export function allCounters(ctx: NetContext): Map<string, TrafficCounters> {
  const read = linkStatsOfAll();
  return ctx.records.transaction(() => {
    for (const a of ctx.records.attachedAdapters()) observe(ctx, a, read);
    const out = new Map<string, TrafficCounters>();
    for (const c of ctx.records.containers()) {
      out.set(c.container, { rxBytes: c.rx_bytes, txBytes: c.tx_bytes, rxPackets: c.rx_packets, txPackets: c.tx_packets });
    }
    for (const a of ctx.records.adapters()) {
      const sum = out.get(a.container);
      if (!sum) continue;
      sum.rxBytes += a.seen_rx_bytes; sum.txBytes += a.seen_tx_bytes; sum.rxPackets += a.seen_rx_packets; sum.txPackets += a.seen_tx_packets;
    }
    return out;
  });
}
