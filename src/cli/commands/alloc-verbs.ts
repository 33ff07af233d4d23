import type { Command } from 'commander';

/**
 * `meshctl alloc exec` and `alloc restart`: commands to one copy, carried out by the device that runs it,
 * whichever agent meshctl talks to. What they load (WebSocket, operator keys) is loaded only when they run.
 */
export function registerAllocVerbs(alloc: Command): void {
  alloc
    .command('exec <id> <command...>')
    .description(
      'run a command in an allocation, on the device that runs it (operator-signed in a closed mesh)',
    )
    .option('-i, --interactive', 'forward standard input to the command')
    .option('-t, --tty', 'a terminal: raw keys, one output stream, window size forwarded')
    .addHelpText(
      'after',
      '\nPut -- before the command when it has options: meshctl alloc exec -it <id> -- sh -l\n' +
        "Exit code: the command's; 125 when it could not be run (refused, unreachable, no such copy).",
    )
    .action(
      async (id: string, command: string[], opts: { interactive?: boolean; tty?: boolean }, cmd: Command) => {
        const { runAllocExec } = await import('./alloc-command-client.js');
        await runAllocExec(cmd, id, command, { stdin: opts.interactive === true, tty: opts.tty === true });
      },
    );
  alloc
    .command('restart <id>')
    .description('restart one allocation where it runs; an operator restart, not counted as a failure')
    .action(async (id: string, _opts, cmd: Command) => {
      const { runAllocRestart } = await import('./alloc-command-client.js');
      await runAllocRestart(cmd, id);
    });
}
