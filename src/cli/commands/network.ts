import type { Command } from 'commander';
import { InvalidArgument } from '../../errors/index.js';
import { clientOf, printFields, printJson, printTable, verb } from '../context.js';

const collect = (v: string, prev: unknown): string[] => [...(Array.isArray(prev) ? (prev as string[]) : []), v];

/** The network flags of `create`. */
export function withNetworkOptions(cmd: Command): Command {
  return cmd
    .option('--net <network>', 'join this network (repeatable; default: the default network)', collect)
    .option('--ip <address>', 'static address on the first network')
    .option('--no-net', 'no network adapter, only loopback')
    .option('--port <host:ct[/proto]>', 'publish a port (repeatable), e.g. 8080:80/tcp', collect, [] as string[])
    .option('--net-in <rate>', 'what the container may receive, e.g. 10mbit')
    .option('--net-out <rate>', 'what the container may send, e.g. 10mbit');
}

export function networkOf(opts: { net?: string[] | boolean; ip?: string; port?: string[]; netIn?: string; netOut?: string }, argv = process.argv): Record<string, unknown> {
  // --net and --no-net share commander's `net` key, so the last one given would win: read --no-net
  // from the command line itself, and let the daemon refuse the combination.
  const noNet = argv.includes('--no-net');
  if (noNet && argv.some((a) => a === '--net' || a.startsWith('--net='))) {
    throw new InvalidArgument('--no-net cannot be combined with --net: drop one or the other');
  }
  return {
    nets: Array.isArray(opts.net) && opts.net.length ? opts.net : undefined,
    noNet: noNet || undefined,
    ip: opts.ip, ports: opts.port?.length ? opts.port : undefined, netIn: opts.netIn, netOut: opts.netOut,
  };
}

export function register(program: Command): void {
  const network = program.command('network').description('create, list, inspect and remove networks');

  verb(network, 'create', 'create a network: a bridge with a subnet, NAT and isolation as asked')
    .argument('<name>')
    .requiredOption('--subnet <cidr>', 'IPv4 subnet, e.g. 10.88.0.0/24')
    .option('--gateway <ip>', 'the bridge\'s address (default: the first address of the subnet)')
    .option('--nat', 'NAT outbound traffic to the host\'s addresses (default)')
    .option('--no-nat', 'no NAT: route only')
    .option('--isolated', 'containers reach the gateway and the outside, not each other')
    .action(async (name: string, opts: { subnet: string; gateway?: string; nat?: boolean; isolated?: boolean }, cmd: Command) => {
      const n = await clientOf(cmd).networks.create({ name, subnet: opts.subnet, gateway: opts.gateway, nat: opts.nat !== false, isolated: !!opts.isolated });
      process.stdout.write(`network ${n.name} created: ${n.subnet} on bridge ${n.bridge}\n`);
    });

  verb(network, 'list', 'list networks')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).networks.list();
      if (opts.json) return printJson(list);
      printTable(['NAME', 'SUBNET', 'GATEWAY', 'NAT', 'ISOLATED', 'BRIDGE', 'CONTAINERS'],
        list.map((n) => [n.name, n.subnet, n.gateway, n.nat ? 'yes' : 'no', n.isolated ? 'yes' : 'no', n.bridge, n.containers.length]));
    });

  verb(network, 'inspect', 'show one network')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const n = await clientOf(cmd).networks.inspect(name);
      if (opts.json) return printJson(n);
      printFields({ ...n, containers: n.containers.join(', ') || '-' });
    });

  verb(network, 'rm', 'remove a network no container uses, and every host change it made')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).networks.remove(name);
      process.stdout.write(`network ${name} removed\n`);
    });

  const port = program.command('port').description('publish container ports on the host, live');

  verb(port, 'add', 'publish a port: it answers on the host\'s addresses, 127.0.0.1 included')
    .argument('<name>')
    .argument('<spec>', 'HOSTPORT:CTPORT[/tcp|/udp]')
    .action(async (name: string, spec: string, _o: unknown, cmd: Command) => {
      const p = await clientOf(cmd).containers.publish(name, spec);
      process.stdout.write(`${name}: host port ${p.hostPort}/${p.proto} → ${p.address ?? name}:${p.containerPort}\n`);
    });

  verb(port, 'rm', 'stop publishing a port')
    .argument('<name>')
    .argument('<spec>', 'HOSTPORT[:CTPORT][/tcp|/udp]')
    .action(async (name: string, spec: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).containers.unpublish(name, spec);
      process.stdout.write(`${name}: ${spec} no longer published\n`);
    });

  verb(port, 'list', 'the ports a container publishes')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).containers.ports(name);
      if (opts.json) return printJson(list);
      printTable(['HOST PORT', 'PROTO', 'CONTAINER', 'ADDRESS'], list.map((p) => [p.hostPort, p.proto, p.containerPort, p.address]));
    });
}
