/**
 * Every network driver passes the conformance suite on the real kernel. The bridge driver makes
 * its own segment; the macvlan driver gets a parent made for the test: one end of a veth pair on
 * the host whose other end is a "customer router" in a network namespace of its own, holding the
 * segment's gateway address (no traffic leaves the machine).
 */
import { after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { networkConformance } from './network.conformance.js';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const tag = randomBytes(3).toString('hex');
const octet = 100 + (randomBytes(1)[0] % 140);

networkConformance('bridge', async () => ({ request: {}, subnet: `10.${octet}.41.0/24`, gateway: `10.${octet}.41.1`, linkPrefixes: [] }));

const parent = `stqp${tag}`;
const routerNs = `stqr${tag}`;
after(() => {
  try { sh('ip', ['netns', 'del', routerNs]); } catch { /* not made */ }
  try { sh('ip', ['link', 'del', parent]); } catch { /* not made */ }
});
networkConformance('macvlan', async () => {
  const subnet = `10.${octet}.42.0/24`;
  const router = `stqm${tag}`;
  sh('ip', ['netns', 'add', routerNs]);
  sh('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', router, 'netns', routerNs]);
  sh('ip', ['link', 'set', parent, 'up']);
  sh('ip', ['-n', routerNs, 'addr', 'add', `10.${octet}.42.1/24`, 'dev', router]);
  sh('ip', ['-n', routerNs, 'link', 'set', router, 'up']);
  return { request: { parent }, subnet, gateway: `10.${octet}.42.1`, linkPrefixes: [] };
});
