/**
 * The monthly traffic quota: given a tenant's plan, what it sent and received this month and what
 * is in force, what to take and what to lift. No I/O; the daemon's TrafficWarden acts on the answer.
 */
import type { TenantRecord } from '../state/index.js';

export type TrafficAction = 'throttle' | 'suspend';

/** Bits per second each way of every container of a throttled tenant (its own lower rates stay). */
export const THROTTLE_BITS = 1_000_000;

interface TrafficVerdict {
  /** Lift what is in force (the month turned, the plan grew, or its policy changed). */
  lift: TrafficAction | null;
  /** Take this now. */
  take: TrafficAction | null;
}

/** The calendar month (UTC) of a time, as YYYY-MM: the period a plan's traffic counts over. */
export function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}


/**
 * What to do about a tenant's traffic in `month`, having used `usedBytes` of it. What was taken
 * in an earlier month is lifted (the count starts again), and so is what no longer matches the plan.
 */
export function trafficVerdict(t: Pick<TenantRecord, 'plan' | 'traffic'>, usedBytes: number, month: string): TrafficVerdict {
  // Over the quota: the month's bytes in and out reached the plan's.
  const over = t.plan.trafficBytes !== undefined && usedBytes >= t.plan.trafficBytes;
  const wanted: TrafficAction | null = over ? (t.plan.trafficPolicy ?? 'throttle') : null;
  const held = t.traffic && t.traffic.month === month ? t.traffic.action : null;
  return {
    lift: t.traffic && (t.traffic.action !== wanted || t.traffic.month !== month) ? t.traffic.action : null,
    take: wanted && wanted !== held ? wanted : null,
  };
}
