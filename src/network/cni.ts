/**
 * A minimal CNI runtime: builds the network configurations Strata hands to the
 * standard plugins (bridge with static IPAM, bandwidth) and invokes
 * one plugin per the CNI 1.0 spec — CNI_* environment, config on stdin, result
 * JSON on stdout, error JSON turned into a ToolError carrying the plugin's msg.
 * It is not libcni: no config files on disk, no result cache (the caller keeps
 * results in SQLite), no chaining policy beyond what the caller does.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, ToolError } from '../errors/index.js';
import { run } from '../util/exec.js';

export const CNI_VERSION = '1.0.0';

interface CniInterface { name: string; mac?: string; sandbox?: string }
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: Array<{ interface?: number; address: string; gateway?: string }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: Record<string, unknown>;
}

export interface CniRuntime {
  containerId: string;
  /** Path of the pinned network namespace; '' on DEL when it is already gone. */
  netns: string;
  ifname: string;
  cniPath: string;
}

export type PluginConf = Record<string, unknown> & { type: string; name: string; cniVersion: string };

// Config builders (pure)

export interface BridgeConfInput {
  cniName: string;
  bridge: string;
  address: string; // CIDR
  gateway: string;
  mac: string;
  /** Only the first adapter carries the default route; the others reach their own subnet. */
  defaultRoute: boolean;
}

/** The bridge plugin with a static IPAM: Strata allocates addresses itself (SQLite), so they are stable. */
export function bridgeConf(i: BridgeConfInput): PluginConf {
  return {
    cniVersion: CNI_VERSION,
    name: i.cniName,
    type: 'bridge',
    bridge: i.bridge,
    isGateway: true,
    isDefaultGateway: false,
    ipMasq: false, // NAT is Strata's own nft rule per network (removed with the network)
    hairpinMode: false,
    ...fixedAddress(i),
  };
}

/**
 * The part every Strata adapter conf shares: the MAC Strata derives and its address through the
 * `static` IPAM (Strata allocates addresses itself, SQLite: stable), the default route on the first.
 */
export function fixedAddress(i: Pick<BridgeConfInput, 'address' | 'gateway' | 'mac' | 'defaultRoute'>): Record<string, unknown> {
  return {
    capabilities: { mac: true },
    runtimeConfig: { mac: i.mac },
    ipam: {
      type: 'static',
      addresses: [{ address: i.address, gateway: i.gateway }],
      routes: i.defaultRoute ? [{ dst: '0.0.0.0/0', gw: i.gateway }] : [],
    },
  };
}

export interface Rates { netIn: number | null; netOut: number | null }
export interface Bursts { inBurst: number; outBurst: number }

/**
 * The bandwidth plugin. Its "ingress" is traffic into the container (a TBF on
 * the host end of the veth) and its "egress" traffic the container sends (the
 * host end's ingress redirected to an ifb with a TBF): so --net-in → ingress,
 * --net-out → egress. Rates and bursts are in bits.
 */
export function bandwidthConf(cniName: string, rates: Rates, bursts: Bursts, prevResult: CniResult): PluginConf {
  const bw: Record<string, number> = {};
  if (rates.netIn) { bw.ingressRate = rates.netIn; bw.ingressBurst = bursts.inBurst; }
  if (rates.netOut) { bw.egressRate = rates.netOut; bw.egressBurst = bursts.outBurst; }
  return {
    cniVersion: CNI_VERSION,
    name: cniName,
    type: 'bandwidth',
    capabilities: { bandwidth: true },
    runtimeConfig: { bandwidth: bw },
    prevResult,
  };
}

// Invocation

function pluginPath(cniPath: string, type: string): string {
  const path = join(cniPath, type);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new FailedPrecondition(
      `CNI plugin ${type} not found in ${cniPath}: install the Debian package containernetworking-plugins (scripts/setup-host.sh does)`,
    );
  }
  return path;
}

/** Runs one plugin. ADD returns its result; DEL and CHECK return null. */
export async function invoke(command: 'ADD' | 'DEL' | 'CHECK', conf: PluginConf, rt: CniRuntime): Promise<CniResult | null> {
  const bin = pluginPath(rt.cniPath, conf.type);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifname,
    CNI_PATH: rt.cniPath,
  };
  const res = await run([bin], { input: JSON.stringify(conf), env, allowFailure: true, timeoutMs: 60_000 });
  if (res.status !== 0) {
    let said = res.stderr.trim() || res.stdout.trim();
    try {
      const err = JSON.parse(res.stdout) as { code?: number; msg?: string; details?: string };
      if (err.msg) said = err.details ? `${err.msg}: ${err.details}` : err.msg;
    } catch { /* not JSON: keep the raw output */ }
    throw new ToolError([bin, command], res.status, said, `CNI ${conf.type} ${command} for ${rt.ifname} of ${rt.containerId}`);
  }
  if (command !== 'ADD') return null;
  try {
    return JSON.parse(res.stdout) as CniResult;
  } catch {
    throw new ToolError([bin, command], 0, `unparsable result: ${res.stdout.slice(0, 200)}`, `CNI ${conf.type} ADD`);
  }
}
