/**
 * `strata completion bash|zsh`: a completion script made from the command tree itself (every
 * verb, sub-verb and option as this CLI has them), with container and template names asked of the
 * daemon when a verb takes one (`strata __complete containers|templates`, hidden).
 */
import type { Command } from 'commander';
import { InvalidArgument } from '../../errors/index.js';
import { clientOf, verb } from '../context.js';

interface Node { path: string; subs: string[]; opts: string[]; args: 'containers' | 'templates' | '' }

/** What a command's first argument names, by its name in the help. */
function argKind(cmd: Command): Node['args'] {
  const first = (cmd as unknown as { registeredArguments?: Array<{ name(): string }> }).registeredArguments?.[0]?.name() ?? '';
  if (/^(name|names|container|containers)$/.test(first)) return 'containers';
  if (/^template/.test(first)) return 'templates';
  return '';
}

function walk(cmd: Command, path: string, out: Node[]): void {
  const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  out.push({
    path,
    subs: subs.flatMap((c) => [c.name(), ...c.aliases()]),
    opts: cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)),
    args: argKind(cmd),
  });
  for (const c of subs) {
    walk(c, `${path} ${c.name()}`, out);
    for (const alias of c.aliases()) walk(c, `${path} ${alias}`, out);
  }
}

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function bashScript(program: Command): string {
  const nodes: Node[] = [];
  walk(program, 'strata', nodes);
  const table = (field: 'subs' | 'opts' | 'args'): string => nodes.map((n) => `  [${q(n.path)}]=${q(Array.isArray(n[field]) ? (n[field] as string[]).join(' ') : (n[field] as string))}`).join('\n');
  return `# strata completion for bash (and zsh through bashcompinit): source <(strata completion bash)
declare -gA _strata_subs=(
${table('subs')}
)
declare -gA _strata_opts=(
${table('opts')}
)
declare -gA _strata_args=(
${table('args')}
)
_strata() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path=strata w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    case " \${_strata_subs[$path]} " in *" $w "*) path="$path $w" ;; esac
  done
  local words="\${_strata_subs[$path]}"
  if [[ $cur == -* ]]; then
    words="\${_strata_opts[$path]}"
  elif [[ -n \${_strata_args[$path]} ]]; then
    words="$words $(strata __complete "\${_strata_args[$path]}" 2>/dev/null)"
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _strata strata
`;
}

export function register(program: Command): void {
  program.command('completion')
    .description('print a shell completion script: bash or zsh (e.g. source <(strata completion bash))')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new InvalidArgument(`no completion for ${JSON.stringify(shell)}: give bash or zsh`);
      const script = bashScript(program);
      process.stdout.write(shell === 'zsh' ? `# strata completion for zsh: source <(strata completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${script}` : script);
    });
  // The names a completion offers, one per line; nothing (and no error) when the daemon does not answer.
  verb(program, '__complete', 'names for shell completion', { hidden: true }).argument('<what>').action(async (what: string, _o: unknown, cmd: Command) => {
    try {
      const client = clientOf(cmd);
      const names = what === 'templates' ? (await client.templates.list()).map((t) => t.name) : (await client.containers.listBrief()).map((c) => c.name);
      process.stdout.write(names.join('\n') + (names.length ? '\n' : ''));
    } catch { /* no daemon: no names */ }
  });
}
