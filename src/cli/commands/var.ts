import type { Command } from 'commander';

/**
 * `meshctl var put|get|list|rm`: encrypted variables (docs/security.md). Values are encrypted and sealed here,
 * with the operator key, and opened here: the agent only ever holds ciphertext.
 */
export function registerVarCommands(program: Command): void {
  const cmd = program
    .command('var')
    .description(`encrypted variables jobs read as \${var:PATH:KEY} in env (closed mesh; operator-signed)`);

  cmd
    .command('put <path> <pairs...>')
    .description(
      "write a new version: KEY=VALUE, KEY=@FILE (the file's content) or KEY=- (standard input), so that " +
        'secrets need not sit in the shell history',
    )
    .action(async (path: string, pairs: string[], _opts, c: Command) => {
      await (await import('./var-actions.js')).putVar(path, pairs, c);
    });

  cmd
    .command('get <path>')
    .description("the current version's values, opened with the operator key")
    .action(async (path: string, _opts, c: Command) => {
      await (await import('./var-actions.js')).getVar(path, c);
    });

  cmd
    .command('list [prefix]')
    .description('variables (never their values): version, who wrote it, who it is sealed to')
    .action(async (prefix: string | undefined, _opts, c: Command) => {
      await (await import('./var-actions.js')).listVar(prefix, c);
    });

  cmd
    .command('seal [prefix]')
    .description(
      "seal the current versions to the devices eligible now that hold no seal (job run does it for the job's vars)",
    )
    .action(async (prefix: string | undefined, _opts, c: Command) => {
      await (await import('./var-actions.js')).sealVar(prefix, c);
    });

  cmd
    .command('rm <path>')
    .description(
      'remove the variable: every version so far leaves every view (copies reading it fail to start)',
    )
    .action(async (path: string, _opts, c: Command) => {
      await (await import('./var-actions.js')).rmVar(path, c);
    });
}
