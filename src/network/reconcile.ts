/** Daemon start and housekeeping: the records and the host made to agree. */
import { detachContainer } from './attach.js';
import { driverOf, IP_FORWARD, specOf, type NetContext } from './context.js';
import { foldAndDetach, observe } from './counters.js';
import { deleteLink, isPinned, linkExists, listLinks, pinNetns } from './host.js';
import { bridgeName, tableName } from './names.js';
import { applyScript, hasPortSets, listTables } from './rules.js';
import { applyRules } from './tables.js';

/** Re-creates missing bridges and re-applies missing rule tables; returns what it did. */
export async function repairNetworks(ctx: NetContext): Promise<string[]> {
  const lines: string[] = [];
  const tables = new Set(await listTables());
  for (const net of ctx.records.networks()) {
    const driver = driverOf(net);
    lines.push(...(await driver.ensureHost(specOf(net)).catch((err: Error) => [`network ${net.name}: ${err.message}`])));
    if (!driver.capabilities.hostSideAdapter) continue;
    const holder = `${ctx.rootId}/${net.name}`;
    if (!ctx.sysctls.holders(IP_FORWARD).includes(holder)) {
      await ctx.sysctls.acquire(IP_FORWARD, holder, '1');
      lines.push(`network ${net.name}: ip_forward hold was missing, re-taken`);
    }
    const t = tableName(ctx.rootId, net.idx);
    if (!tables.has(`ip ${t}`) || !tables.has(`bridge ${t}`)) {
      await applyRules(ctx, net);
      lines.push(`network ${net.name}: nftables tables ${t} were missing, re-applied`);
    }
  }
  return lines;
}

/**
 * Bridge tables of an older Strata (a chain per port, which the set elements of an attach do not
 * fit) rendered anew. Only at the daemon's start: no table changes layout while it runs.
 */
async function renderOlderLayouts(ctx: NetContext): Promise<string[]> {
  const lines: string[] = [];
  for (const net of ctx.records.networks()) {
    if (!driverOf(net).capabilities.hostSideAdapter) continue;
    const t = tableName(ctx.rootId, net.idx);
    if (await hasPortSets(t)) continue;
    await applyRules(ctx, net);
    lines.push(`network ${net.name}: nftables tables ${t} had an older Strata's layout (a chain per port), re-applied`);
  }
  return lines;
}

/**
 * Makes the records and the host agree: adapters of containers that do not run detached, the
 * namespaces of those that do held again (a new daemon holds none; `pids`: their inits), lost
 * links noted, networks repaired, stray objects of this root removed.
 */
export async function reconcile(ctx: NetContext, runningContainers: Set<string>, pids?: ReadonlyMap<string, number>): Promise<string[]> {
  const lines: string[] = [];
  for (const c of ctx.records.containers()) {
    const rows = ctx.adapterRows(c.container);
    const attached = rows.filter((a) => a.attached);
    if (!runningContainers.has(c.container)) {
      if (attached.length > 0 || c.netns || isPinned(ctx.nsPath(c.container))) {
        await detachContainer(ctx, c.container);
        lines.push(`container ${c.container} is not running: its network adapters were detached`);
      }
      continue;
    }
    const pid = pids?.get(c.container);
    const key = c.netns ?? ctx.nsPath(c.container);
    if (c.netns && pid && !isPinned(key)) await pinNetns(key, pid).catch(() => undefined);
    for (const a of attached) {
      if (!driverOf(ctx.mustNet(a.network)).capabilities.hostSideAdapter) continue;
      if (!linkExists(a.host_ifname)) {
        foldAndDetach(ctx, c.container, a.network);
        lines.push(`container ${c.container}: adapter ${a.ifname} on ${a.network} has lost its host link ${a.host_ifname}; restart the container to re-attach it`);
      } else {
        observe(ctx, a);
      }
    }
  }
  lines.push(...(await repairNetworks(ctx)));
  lines.push(...(await renderOlderLayouts(ctx)));
  // Host objects named for this root that no record explains.
  const known = new Set(ctx.records.networks().map((r) => r.bridge));
  const prefix = bridgeName(ctx.rootId, 0).slice(0, -4);
  for (const link of listLinks()) {
    if (link.startsWith(prefix) && !known.has(link)) {
      await deleteLink(link);
      lines.push(`bridge ${link} belongs to no network of this root: removed`);
    }
  }
  const idxs = new Set(ctx.records.networks().map((r) => tableName(ctx.rootId, r.idx)));
  for (const t of await listTables()) {
    const name = t.split(' ')[1] ?? '';
    if (name.startsWith(`strata_${ctx.rootId}_`) && !idxs.has(name)) {
      await applyScript(`delete table ${t}\n`, `removing stray nftables table ${t}`);
      lines.push(`nftables table ${t} belongs to no network of this root: removed`);
    }
  }
  return lines;
}
