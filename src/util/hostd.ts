/**
 * Client of strata-hostd (native/strata-hostd.c): the daemon's resident helper that makes the
 * host changes of a start and a destroy (nftables scripts, a container's veth and bridge port, a
 * container root's mounts and unmounts) without starting a program for each, a few milliseconds
 * apiece.
 *
 *   await hostd().nft('add table ip t\n', 'adding rules');
 *   await hostd().configurePort('veth1a2b', 'stp1234', '02:…', false, 'attaching web');
 *   await hostd().joinBridge({ netns: '/proc/42/ns/net', ifname: 'eth0', port: 'stp1234', … }, 'attaching web');
 *
 * One helper per daemon process, started at its first request and ended with the process (it
 * exits when its stdin closes). It holds no state: one that died is started again at the next
 * request, and the requests it had not answered fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { nativeHelper } from '../config/index.js';
import { HostOpError, Unavailable } from '../errors/index.js';

export interface BridgeJoin {
  /** The container's network namespace, as a path (/proc/<pid>/ns/net). */
  netns: string;
  /** The container's end (eth0). */
  ifname: string;
  /** The host end: the bridge port's name. */
  port: string;
  bridge: string;
  mac: string;
  /** CIDR: 10.77.0.2/24. */
  address: string;
  gateway: string;
  defaultRoute: boolean;
  isolated: boolean;
}

interface Pending {
  owner: ChildProcess;
  verb: string;
  context: string | undefined;
  resolve: (output: string) => void;
  reject: (err: Error) => void;
}

export class HostHelper {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `wrap`: words before the binary (tests run it in a namespace of its own: `unshare --net`). */
  constructor(private readonly binary: string, private readonly wrap: string[] = []) {}

  /** Runs an nft script as one transaction (as `nft -f`); resolves with what it printed. */
  nft(script: string, context?: string): Promise<string> {
    return this.request('NFT', [script], context);
  }

  /**
   * Makes the bridge plugin's new host veth `from` the port `port`: renamed and up, no learning
   * and no unknown-unicast flooding, isolated or not, with a static forwarding entry for `mac`.
   */
  async configurePort(from: string, port: string, mac: string, isolated: boolean, context?: string): Promise<void> {
    await this.request('PORT', [from, port, mac, isolated ? '1' : '0'], context);
  }

  /**
   * Joins a container to a bridge as the CNI bridge plugin would: a veth whose end `j.ifname` (its
   * MAC, address, arp_notify, no IPv6 address, the default route when asked) is made in the network
   * namespace at `j.netns`, and whose host end is the bridge port `j.port`, set up as
   * configurePort does. Resolves with the port's ifindex; leaves nothing when it fails.
   */
  async joinBridge(j: BridgeJoin, context?: string): Promise<number> {
    const args = [j.netns, j.ifname, j.port, j.bridge, j.mac, j.address, j.gateway, j.defaultRoute ? '1' : '0', j.isolated ? '1' : '0'];
    return Number(await this.request('VETH', args, context));
  }

  /** strata-idmount's operations (`batch OP ARGS… -- …`), in a child of the helper. */
  async idmount(args: string[], context?: string): Promise<void> {
    await this.request('MOUNT', args, context);
  }

  /** Unmounts each target in order (detached when busy); those not mounted are skipped. */
  async unmount(targets: string[], context?: string): Promise<void> {
    if (targets.length) await this.request('UMOUNT', targets, context);
  }

  /**
   * Those of `paths` that are mount points, asked of each path (statx), not of the whole mount
   * table; null when the kernel cannot tell (the caller reads the table).
   */
  async mountPoints(paths: string[]): Promise<Set<string> | null> {
    if (!paths.length) return new Set();
    try {
      return new Set((await this.request('MOUNTED', paths)).split('\n').filter(Boolean));
    } catch (err) {
      if (err instanceof HostOpError && err.status === 2) return null;
      throw err;
    }
  }

  /** The helper's pid (it is started if it was not). */
  async ping(): Promise<number> {
    return Number((await this.request('PING', [])).split(' ')[1]);
  }

  /** Ends the helper now (tests; a daemon's helper ends with it). */
  stop(): void {
    this.child?.stdin?.end();
    this.child = null;
  }

  private request(verb: string, args: string[], context?: string): Promise<string> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    const parts: Buffer[] = [Buffer.from(`${id} ${verb} ${args.length}\n`)];
    for (const a of args) {
      const bytes = Buffer.from(a);
      parts.push(Buffer.from(`${bytes.length}\n`), bytes);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { owner: child, verb, context, resolve, reject });
      child.ref();
      (child.stdout as Socket).ref();
      child.stdin!.write(Buffer.concat(parts));
    });
  }

  private start(): ChildProcess {
    const argv = [...this.wrap, this.binary];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    let received: Buffer = Buffer.alloc(0);
    // Idle, the helper does not keep its process alive; a request in flight does (ref above).
    child.unref();
    (child.stdin as unknown as Socket).unref();
    (child.stdout as Socket).unref();
    child.stdin!.on('error', () => undefined); // its death is reported by 'exit' below
    child.stdout!.on('data', (chunk: Buffer) => { received = this.receive(child, received.length ? Buffer.concat([received, chunk]) : chunk); });
    const gone = (why: string): void => {
      if (this.child === child) this.child = null;
      for (const [id, p] of this.pending) {
        if (p.owner !== child) continue;
        this.pending.delete(id);
        p.reject(new Unavailable(`${p.context ? `${p.context}: ` : ''}the host helper ${this.binary} ${why}`));
      }
    };
    child.on('error', (err: NodeJS.ErrnoException) => gone(err.code === 'ENOENT'
      ? "is missing: run 'npm run build' to build the native helpers"
      : `could not start (${err.message})`));
    child.on('exit', (code, signal) => gone(`stopped (${signal ?? `status ${code}`})`));
    return child;
  }

  /** Settles the requests whose whole answers are in `received`; returns what is left of it. */
  private receive(child: ChildProcess, received: Buffer): Buffer {
    for (;;) {
      const nl = received.indexOf(10);
      if (nl < 0) return received;
      const [id, status, len] = received.subarray(0, nl).toString().split(' ').map(Number);
      if (received.length < nl + 1 + len) return received;
      const text = received.subarray(nl + 1, nl + 1 + len).toString();
      received = received.subarray(nl + 1 + len);
      const p = this.pending.get(id);
      if (!p || p.owner !== child) continue;
      this.pending.delete(id);
      if (![...this.pending.values()].some((o) => o.owner === child)) {
        child.unref();
        (child.stdout as Socket).unref();
      }
      if (status === 0) p.resolve(text);
      else p.reject(new HostOpError(p.verb, status, text, p.context));
    }
  }
}

let shared: HostHelper | null = null;

/** This process's helper. */
export function hostd(): HostHelper {
  shared ??= new HostHelper(nativeHelper('strata-hostd'));
  return shared;
}
