/** `strata tenant …`, `strata user …`, `strata token …`, `strata whoami`, `strata audit`: who may do what. */
import type { Command } from 'commander';
import { InvalidArgument } from '../../errors/index.js';
import type { CreateUserRequest, PlanRequest, TenantView } from '../../api/client.js';
import { clientOf, humanBytes, printFields, printJson, printTable, since, verb } from '../context.js';

const collect = (v: string, prev: unknown): string[] => [...(Array.isArray(prev) ? (prev as string[]) : []), v];

/** The plan flags of `tenant create` and `tenant set`. */
function withPlanOptions(cmd: Command): Command {
  return cmd
    .option('--cpus <n>', "CPUs' time for all its containers together (1.5); 'none' removes it")
    .option('--memory <size>', 'memory for all its containers together (8G)')
    .option('--pids <n>', 'processes at once, all its containers together')
    .option('--disk <size>', 'disk: the sum of its containers\' disk limits (100G)')
    .option('--containers <n>', 'containers at most')
    .option('--ports <n>', 'published ports at most')
    .option('--traffic <size>', 'bytes in and out per month (1T)')
    .option('--traffic-policy <policy>', 'over the traffic quota: throttle (default) or suspend');
}

type PlanFlags = Record<'cpus' | 'memory' | 'pids' | 'disk' | 'containers' | 'ports' | 'traffic' | 'trafficPolicy', string | undefined>;

function planOf(opts: PlanFlags): PlanRequest {
  const out: Record<string, string | null> = {};
  for (const key of ['cpus', 'memory', 'pids', 'disk', 'containers', 'ports', 'traffic', 'trafficPolicy'] as const) {
    const v = opts[key];
    if (v !== undefined) out[key] = v === 'none' ? null : v;
  }
  return out as PlanRequest;
}

/** `30d`, `12h`, `15m`, `3600` → seconds. */
function secondsOf(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  if (!m) throw new InvalidArgument(`invalid --expires ${JSON.stringify(text)}: give a duration such as 30d, 12h, 15m or a number of seconds`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

const planText = (t: TenantView): string => {
  const p = t.plan;
  const parts = [
    p.cpus !== undefined ? `${p.cpus} CPUs` : null, p.memory !== undefined ? `${humanBytes(p.memory)} memory` : null,
    p.pids !== undefined ? `${p.pids} pids` : null, p.disk !== undefined ? `${humanBytes(p.disk)} disk` : null,
    p.containers !== undefined ? `${p.containers} containers` : null, p.ports !== undefined ? `${p.ports} ports` : null,
    p.trafficBytes !== undefined ? `${humanBytes(p.trafficBytes)}/month traffic (${p.trafficPolicy ?? 'throttle'})` : null,
  ].filter(Boolean);
  return parts.join(', ') || 'no limits';
};

function printTenant(t: TenantView): void {
  printFields({
    name: t.name, plan: planText(t), suspended: t.suspendedAt ? `since ${t.suspendedAt}: ${t.suspendedWhy ?? ''}` : 'no',
    containers: `${t.holdings.containers}${t.plan.containers !== undefined ? ` of ${t.plan.containers}` : ''}${t.containers.length ? ` (${t.containers.join(', ')})` : ''}`,
    disk: `${humanBytes(t.holdings.disk)}${t.plan.disk !== undefined ? ` of ${humanBytes(t.plan.disk)}` : ''}${t.holdings.snapshots ? ` (snapshots ${humanBytes(t.holdings.snapshots)})` : ''}`,
    ports: `${t.holdings.ports}${t.plan.ports !== undefined ? ` of ${t.plan.ports}` : ''}`,
    traffic: `${humanBytes(t.holdings.traffic)} this month${t.plan.trafficBytes !== undefined ? ` of ${humanBytes(t.plan.trafficBytes)}` : ''}${t.traffic ? ` (over: ${t.traffic.action === 'throttle' ? 'throttled' : 'suspended'} since ${t.traffic.month})` : ''}`,
    created: t.createdAt,
  });
}

export function register(program: Command): void {
  const tenant = program.command('tenant').description("tenants: customers' shares of the host, each with a plan");
  withPlanOptions(verb(tenant, 'create', 'create a tenant with a plan (what all its containers together may have)').argument('<name>'))
    .action(async (name: string, opts: PlanFlags, cmd: Command) => {
      const t = await clientOf(cmd).tenants.create(name, planOf(opts));
      process.stdout.write(`tenant ${t.name} created: ${planText(t)}\n`);
    });
  verb(tenant, 'list', 'list tenants, their plans and what they hold').option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).tenants.list();
      if (opts.json) return printJson(list);
      printTable(['NAME', 'CONTAINERS', 'DISK', 'PORTS', 'SUSPENDED', 'PLAN'], list.map((t) => [
        t.name, t.holdings.containers, humanBytes(t.holdings.disk), t.holdings.ports, t.suspendedAt ? 'yes' : 'no', planText(t),
      ]));
    });
  verb(tenant, 'show', 'show a tenant, its plan and what it holds').argument('<name>').option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const t = await clientOf(cmd).tenants.inspect(name);
      if (opts.json) printJson(t); else printTenant(t);
    });
  withPlanOptions(verb(tenant, 'set', "change a tenant's plan ('none' removes a field); running containers get the new ceilings at once").argument('<name>'))
    .action(async (name: string, opts: PlanFlags, cmd: Command) => {
      const plan = planOf(opts);
      if (!Object.keys(plan).length) throw new InvalidArgument('nothing to change: give at least one of --cpus, --memory, --pids, --disk, --containers, --ports, --traffic, --traffic-policy');
      const t = await clientOf(cmd).tenants.setPlan(name, plan);
      process.stdout.write(`tenant ${t.name}: ${planText(t)}\n`);
    });
  verb(tenant, 'suspend', 'suspend a tenant: its running containers stop and none may start; nothing is deleted').argument('<name>')
    .option('--reason <text>', 'why (shown to its users)')
    .action(async (name: string, opts: { reason?: string }, cmd: Command) => {
      await clientOf(cmd).tenants.suspend(name, opts.reason);
      process.stdout.write(`tenant ${name} suspended\n`);
    });
  verb(tenant, 'unsuspend', 'lift a suspension: its containers may start again').argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).tenants.unsuspend(name);
      process.stdout.write(`tenant ${name} unsuspended\n`);
    });
  verb(tenant, 'rm', 'remove a tenant that has no container (its users and tokens go with it)').argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).tenants.remove(name);
      process.stdout.write(`tenant ${name} removed\n`);
    });

  const user = program.command('user').description('users: a host administrator, or a tenant\'s owner, operator, viewer or billing contact');
  verb(user, 'create', 'create a user').argument('<name>')
    .requiredOption('--role <role>', 'admin (the host\'s), owner, operator, viewer or billing (a tenant\'s)')
    .option('--tenant <tenant>', 'the tenant it belongs to (all roles but admin)')
    .option('--password-stdin', "read a password for the panel's log-in from stdin")
    .action(async (name: string, opts: { role: string; tenant?: string; passwordStdin?: boolean }, cmd: Command) => {
      const password = opts.passwordStdin ? await readStdinLine() : undefined;
      const u = await clientOf(cmd).users.create({ name, role: opts.role as CreateUserRequest['role'], tenant: opts.tenant, password });
      process.stdout.write(`user ${u.name} created: ${u.role}${u.tenant ? ` of tenant ${u.tenant}` : ' of the host'}\n`);
    });
  verb(user, 'list', 'list users').option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).users.list();
      if (opts.json) return printJson(list);
      printTable(['NAME', 'ROLE', 'TENANT', 'PASSWORD', 'CREATED'], list.map((u) => [u.name, u.role, u.tenant, u.hasPassword ? 'yes' : 'no', since(u.createdAt)]));
    });
  verb(user, 'passwd', "set a user's password from stdin (none: --remove)").argument('<name>').option('--remove', 'remove the password')
    .action(async (name: string, opts: { remove?: boolean }, cmd: Command) => {
      await clientOf(cmd).users.setPassword(name, opts.remove ? null : await readStdinLine());
      process.stdout.write(`password of ${name} ${opts.remove ? 'removed' : 'set'}\n`);
    });
  verb(user, 'rm', 'remove a user and its tokens').argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).users.remove(name);
      process.stdout.write(`user ${name} removed\n`);
    });

  const token = program.command('token').description('API tokens: what a program or a remote CLI presents');
  verb(token, 'create', 'make an API token; its secret is printed once')
    .option('--user <user>', 'whose token (default: yourself)')
    .option('--scope <scope>', "only this scope (repeatable; default: all the user's role grants)", collect)
    .option('--container <name>', 'only this container (repeatable)', collect)
    .option('--cidr <range>', 'only from this address range (repeatable), e.g. 203.0.113.0/24', collect)
    .option('--expires <duration>', 'expires after 30d, 12h, 15m, or seconds')
    .option('--description <text>', 'what it is for')
    .option('--json', 'print JSON')
    .action(async (opts: { user?: string; scope?: string[]; container?: string[]; cidr?: string[]; expires?: string; description?: string; json?: boolean }, cmd: Command) => {
      const made = await clientOf(cmd).tokens.create({
        user: opts.user, scopes: opts.scope, containers: opts.container, cidrs: opts.cidr,
        expiresIn: opts.expires ? secondsOf(opts.expires) : undefined, description: opts.description,
      });
      if (opts.json) return printJson(made);
      process.stdout.write(`${made.token}\n`);
      process.stderr.write(`token ${made.record.id} of ${made.record.user}: ${made.record.scopes.join(' ')}${made.record.expiresAt ? `, expires ${made.record.expiresAt}` : ''}. The secret above is shown only now.\n`);
    });
  verb(token, 'list', 'list tokens (never their secrets)').option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).tokens.list();
      if (opts.json) return printJson(list);
      printTable(['ID', 'USER', 'SCOPES', 'CONTAINERS', 'FROM', 'EXPIRES', 'LAST USED', 'DESCRIPTION'], list.map((t) => [
        t.id, t.user, t.scopes.length > 3 ? `${t.scopes.length} scopes` : t.scopes.join(','), t.containers?.join(','), t.cidrs?.join(','),
        t.expiresAt ?? 'never', t.lastUsedAt ? since(t.lastUsedAt) : 'never', t.description,
      ]));
    });
  verb(token, 'revoke', 'revoke a token at once').argument('<id>')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await clientOf(cmd).tokens.revoke(id);
      process.stdout.write(`token ${id} revoked\n`);
    });

  verb(program, 'whoami', 'who you are to the daemon and what you may do').option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const me = await clientOf(cmd).me();
      if (opts.json) return printJson(me);
      printFields({
        user: me.user, role: me.role, tenant: me.tenant ?? '(the host)', 'acting as': me.actingAs, scopes: me.scopes.join(' '),
        containers: me.containers?.join(', ') ?? 'all of the tenant', token: me.token, from: me.source,
      });
      if (me.tenantView) printTenant(me.tenantView);
    });

  verb(program, 'audit', 'audited changes, newest first: who, what, when, from where, as whom')
    .option('--limit <n>', 'how many (default 50)', '50').option('--json', 'print JSON')
    .action(async (opts: { limit: string; json?: boolean }, cmd: Command) => {
      const list = await clientOf(cmd).tenants.audit({ limit: Number(opts.limit) });
      if (opts.json) return printJson(list);
      printTable(['TIME', 'WHO', 'AS', 'FROM', 'STATUS', 'REQUEST'], list.map((a) => [a.time, a.token ? `${a.actor} (${a.token})` : a.actor, a.asTenant, a.source, a.status, `${a.method} ${a.path}`]));
    });
}

async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) return readHiddenLine('Password: ');
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  const line = text.split('\n')[0];
  if (!line) throw new InvalidArgument('no password on stdin: pipe one in (printf %s "$PASSWORD" | strata user passwd NAME)');
  return line;
}

/** A line typed on the terminal, not echoed (a password). */
function readHiddenLine(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    let line = '';
    const done = (err: Error | null): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err); else resolve(line);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(line ? null : new InvalidArgument('no password given'));
        if (ch === '\u0003') return done(new InvalidArgument('cancelled'));
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch >= ' ') line += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}
