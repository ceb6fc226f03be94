/**
 * Host id ranges for containers. Each unprivileged container owns one
 * disjoint range of 65536 uids/gids (container id N = host id base+N). Ranges
 * start at 2^24, far above any host user, and each data root draws from its
 * own region so that two daemons on one host hand out different ranges.
 */
import { createHash } from 'node:crypto';
import { FailedPrecondition } from '../errors/index.js';
import type { IdMap } from '../model/index.js';
import { DEFAULT_ROOT } from '../config/index.js';

export const RANGE_SIZE = 65536;
const FIRST_RANGE = 256; // 256 * 65536 = 2^24
export const SLOTS_PER_REGION = 2048;
const REGIONS = 15; // (2^31 / 65536 - 256) / 2048, rounded down: every id stays below 2^31

function regionOf(root: string): number {
  if (root === DEFAULT_ROOT) return 0;
  const h = createHash('sha256').update(root).digest().readUInt32BE(0);
  return 1 + (h % (REGIONS - 1));
}

export function idMapFor(root: string, slot: number): IdMap {
  if (slot >= SLOTS_PER_REGION) {
    throw new FailedPrecondition(`this data root has used all ${SLOTS_PER_REGION} id ranges: destroy unused containers first`);
  }
  return { hostBase: (FIRST_RANGE + regionOf(root) * SLOTS_PER_REGION + slot) * RANGE_SIZE, size: RANGE_SIZE };
}
