/**
 * The traffic warden: after every meter tick, each tenant's bytes in and out this month (UTC)
 * against its plan. Over it, by the plan's policy, its containers are held to THROTTLE_BITS each
 * way (their own rates come back after) or the tenant is suspended (its containers stop). What it
 * took is recorded on the tenant and lifted by it alone: at the month's turn, or when the plan
 * grows or drops its traffic quota. A host administrator's own suspension is never lifted here.
 */
import { monthOf, THROTTLE_BITS, trafficVerdict, type TrafficAction } from '../access/index.js';
import type { AccessRecords, TenantRecord } from '../state/index.js';
import { formatSize } from '../model/units.js';

export interface TrafficDeps {
  records: AccessRecords;
  /** Bytes a tenant's containers received and sent in a month (YYYY-MM). */
  usedBytes: (tenant: string, month: string) => number;
  /** Holds a container's rates to at most this many bits/s; null lifts it. */
  throttle: (container: string, bitsPerSecond: number | null) => Promise<void>;
  /** Whether a container is held now. */
  throttled: (container: string) => boolean;
  stopTenant: (tenant: string) => Promise<string[]>;
  event: (kind: string, tenant: string, message: string) => void;
  log: (line: string) => void;
  now?: () => number;
}

/** The reason a suspension by the warden carries: it lifts only suspensions that start so. */
const SUSPEND_REASON = 'over its monthly traffic';

export class TrafficWarden {
  constructor(private readonly deps: TrafficDeps) {}

  /** One look at every tenant; a failure with one tenant is logged and the others are still seen to. */
  async check(): Promise<void> {
    const month = monthOf((this.deps.now ?? Date.now)());
    for (const t of this.deps.records.listTenants()) {
      if (t.plan.trafficBytes === undefined && !t.traffic) continue;
      await this.checkTenant(t, month).catch((err: Error) => this.deps.log(`traffic quota of tenant ${t.name}: ${err.message}`));
    }
  }

  private async checkTenant(t: TenantRecord, month: string): Promise<void> {
    const used = this.deps.usedBytes(t.name, month);
    const verdict = trafficVerdict(t, used, month);
    if (verdict.lift) await this.lift(t, verdict.lift);
    if (verdict.take) await this.take(t, verdict.take, used, month);
    else if (!verdict.lift && t.traffic?.action === 'throttle') await this.holdAll(t.name, THROTTLE_BITS);
  }

  private async take(t: TenantRecord, action: TrafficAction, used: number, month: string): Promise<void> {
    const over = `${formatSize(used)} of its ${formatSize(t.plan.trafficBytes ?? 0)} in ${month}`;
    // Recorded first: a daemon stopped half-way finishes (or lifts) it on its next look.
    this.deps.records.setTrafficAction(t.name, { action, month });
    if (action === 'throttle') {
      await this.holdAll(t.name, THROTTLE_BITS);
      this.deps.event('traffic-throttled', t.name, `tenant ${t.name} is over its monthly traffic (${over}): its containers are held to ${THROTTLE_BITS / 1e6} Mbit/s each way until the month turns or its plan grows`);
    } else {
      this.deps.records.setSuspended(t.name, `${SUSPEND_REASON} (${over})`);
      const stopped = await this.deps.stopTenant(t.name);
      this.deps.event('traffic-suspended', t.name, `tenant ${t.name} is over its monthly traffic (${over}) and suspended until the month turns or its plan grows${stopped.length ? `; stopped ${stopped.join(', ')}` : ''}`);
    }
  }

  private async lift(t: TenantRecord, action: TrafficAction): Promise<void> {
    let what = 'throttle is lifted';
    if (action === 'throttle') {
      await this.holdAll(t.name, null);
    } else if (t.suspendedWhy?.startsWith(SUSPEND_REASON)) {
      this.deps.records.setSuspended(t.name, null);
      what = 'suspension is lifted';
    } else {
      what = `suspension no longer holds${t.suspendedAt ? ' (the host\'s own suspension stays)' : ''}`;
    }
    this.deps.records.setTrafficAction(t.name, null);
    this.deps.event('traffic-restored', t.name, `tenant ${t.name}: the traffic quota's ${what} (a new month, or a larger plan)`);
  }

  /** Holds (or frees, null) every container of a tenant that is not so already. */
  private async holdAll(tenant: string, bits: number | null): Promise<void> {
    for (const name of this.deps.records.tenantContainers(tenant)) {
      if (this.deps.throttled(name) === (bits !== null)) continue;
      await this.deps.throttle(name, bits).catch((err: Error) => this.deps.log(`traffic quota: could not ${bits ? 'throttle' : 'free'} ${name}: ${err.message}`));
    }
  }
}
