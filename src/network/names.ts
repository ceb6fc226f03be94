/**
 * Names of the host objects Strata creates for networks. Every name carries the
 * data root (rootId) or a hash that includes it, so that two daemons on one host
 * never touch each other's bridges, veths or rule tables. Pure.
 *
 *   bridge       stb<rootId 8 hex><network index, 4 digits>      e.g. stb1a2b3c4d0001 (15 chars)
 *   veth (host)  stv<12 hex of sha256(rootId/container/network)> e.g. stv0123456789ab (15 chars)
 *   nft tables   strata_<rootId>_<network index>, families `ip` (NAT, published
 *                ports, forward filter) and `bridge` (per-port anti-spoofing)
 *   CNI ids      strata-<rootId>-<container>  (CNI_CONTAINERID)
 *   ifb          bwp<12 hex of sha512(CNI network name + CNI container id)>: named
 *                by the bandwidth plugin, per adapter; ifbName() computes it
 */
import { createHash } from 'node:crypto';

export const MAX_NETWORKS = 10_000;

export function bridgeName(rootId: string, index: number): string {
  return `stb${rootId.slice(0, 8)}${String(index).padStart(4, '0')}`;
}

export function vethName(rootId: string, container: string, network: string): string {
  return `stv${createHash('sha256').update(`${rootId}/${container}/${network}`).digest('hex').slice(0, 12)}`;
}

export function tableName(rootId: string, index: number): string {
  return `strata_${rootId}_${index}`;
}

export function cniContainerId(rootId: string, container: string): string {
  return `strata-${rootId}-${container}`;
}

/** The CNI network name of a Strata network (unique per root: plugins hash it into their own names). */
export function cniNetworkName(rootId: string, network: string): string {
  return `strata-${rootId}-${network}`;
}

/** The ifb device the CNI bandwidth plugin makes for an adapter (its own formula: bwp + sha512(name + id)). */
export function ifbName(cniName: string, containerId: string): string {
  return `bwp${createHash('sha512').update(cniName + containerId).digest('hex').slice(0, 12)}`;
}
