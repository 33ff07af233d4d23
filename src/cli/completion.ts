import type { Command, Option } from 'commander';

/** A command as completion sees it: its words, the options it takes, and the values its first argument may be. */
export interface CommandTree {
  readonly name: string;
  readonly options: readonly string[];
  /** Options followed by a value (`--api URL`): the value's choices, or none (then file names). */
  readonly valued: readonly { readonly flags: readonly string[]; readonly choices: readonly string[] }[];
  readonly argChoices: readonly string[];
  readonly commands: readonly CommandTree[];
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The tree of `program` as commander holds it, so completion never drifts from the commands. */
export function commandTree(command: Command): CommandTree {
  return {
    name: command.name(),
    options: command.options.flatMap(flagsOf),
    valued: command.options
      .filter((o) => o.required || o.optional)
      .map((o) => ({ flags: flagsOf(o), choices: o.argChoices ?? [] })),
    argChoices: command.registeredArguments[0]?.argChoices ?? [],
    commands: command.commands.map(commandTree),
  };
}

function flagsOf(o: Option): string[] {
  return [o.long, o.short].filter((f): f is string => f !== undefined);
}

/**
 * A completion script for `shell`: command words at each level, then that command's options (with the
 * program's global ones); the word after an option that takes a value is that value (its choices, or a file
 * name: --token-file, --operator-key); other words complete as file names, as `job run FILE` wants.
 */
export function completionScript(shell: Shell, tree: CommandTree): string {
  switch (shell) {
    case 'bash':
      return bashScript(tree);
    case 'zsh':
      // zsh runs bash completion functions through bashcompinit, so both shells share one table.
      return `autoload -U +X bashcompinit && bashcompinit\n${bashScript(tree)}`;
    case 'fish':
      return fishScript(tree);
  }
}

/** Every command path (`job`, `job run`, ...) with what may follow it. */
function paths(tree: CommandTree, prefix: string[] = []): { path: string[]; node: CommandTree }[] {
  return [{ path: prefix, node: tree }, ...tree.commands.flatMap((c) => paths(c, [...prefix, c.name]))];
}

function bashScript(tree: CommandTree): string {
  const name = tree.name;
  const cases = paths(tree)
    .map(({ path, node }) => {
      const words = [
        ...node.commands.map((c) => c.name),
        ...node.argChoices,
        ...node.options,
        ...(path.length > 0 ? tree.options : []),
      ];
      return `    "${path.join(' ')}") words="${words.join(' ')}" ;;`;
    })
    .join('\n');
  const commandWords = paths(tree)
    .filter(({ node }) => node.commands.length > 0)
    .map(
      ({ path, node }) => `    "${path.join(' ')}") subs="${node.commands.map((c) => c.name).join(' ')}" ;;`,
    )
    .join('\n');
  // One table for every command: a flag takes a value wherever it appears (-o is global, --job is events' only).
  const valued = new Map<string, readonly string[]>();
  for (const { node } of paths(tree))
    for (const o of node.valued) for (const f of o.flags) if (!valued.has(f)) valued.set(f, o.choices);
  const valueCases = [...valued]
    .map(([flag, choices]) =>
      choices.length > 0
        ? `    ${flag}) COMPREPLY=($(compgen -W "${choices.join(' ')}" -- "$cur")); return 0 ;;`
        : `    ${flag}) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;`,
    )
    .join('\n');
  const valuedFlags = [...valued.keys()].join('|');
  return `# ${name} completion for bash (and zsh through bashcompinit): source it, or put it in your completion dir.
_${name}_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" subs words i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in ${valuedFlags}) ((i++)); continue ;; -*) continue ;; esac
    subs=""
    case "$path" in
${commandWords}
    esac
    [[ " $subs " == *" $w "* ]] && path="\${path:+$path }$w"
  done
  case "\${COMP_WORDS[COMP_CWORD-1]}" in
${valueCases}
  esac
  words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [[ \${#COMPREPLY[@]} -eq 0 && "$cur" != -* ]] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -o filenames -F _${name}_complete ${name}
`;
}

function fishScript(tree: CommandTree): string {
  const name = tree.name;
  const lines = [`# ${name} completion for fish: save as ~/.config/fish/completions/${name}.fish`];
  lines.push(
    `complete -c ${name} -f -n '__fish_use_subcommand' -a '${tree.commands.map((c) => c.name).join(' ')}'`,
  );
  for (const option of tree.options) lines.push(`complete -c ${name} ${fishOption(option, tree)}`);
  for (const { path, node } of paths(tree)) {
    if (path.length === 0) continue;
    const seen = path.map((word) => `__fish_seen_subcommand_from ${word}`).join('; and ');
    if (node.commands.length > 0)
      lines.push(`complete -c ${name} -f -n '${seen}' -a '${node.commands.map((c) => c.name).join(' ')}'`);
    if (node.argChoices.length > 0)
      lines.push(`complete -c ${name} -f -n '${seen}' -a '${node.argChoices.join(' ')}'`);
    for (const option of node.options)
      lines.push(`complete -c ${name} -n '${seen}' ${fishOption(option, node)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The flag, and what its value completes to: its choices only (-x -a), or a file name (-r). */
function fishOption(flag: string, node: CommandTree): string {
  const name = flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`;
  const value = node.valued.find((o) => o.flags.includes(flag));
  if (value === undefined) return name;
  return value.choices.length > 0 ? `${name} -x -a '${value.choices.join(' ')}'` : `${name} -r`;
}
