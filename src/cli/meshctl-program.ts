/** meshctl's commands, loaded by src/cli/meshctl.ts for every call but `meshctl --version`. */
import { Argument, Command, CommanderError, Option } from 'commander';
import type { AgentStatus, PeerInfo } from '../node/api/types.js';
import { VERSION } from '../version.js';
import { CliError } from './api-client.js';
import { registerAllocCommands } from './commands/alloc.js';
import { registerEventsCommand } from './commands/events.js';
import { registerImageCommands } from './commands/image.js';
import { registerJobCommands } from './commands/job.js';
import { registerMeshCommands } from './commands/mesh.js';
import { registerNodeCommands } from './commands/node.js';
import { registerServiceCommands } from './commands/service.js';
import { registerUiCommand } from './commands/ui.js';
import { registerVarCommands } from './commands/var.js';
import { commandTree, completionScript, SHELLS, type Shell } from './completion.js';
import { renderDialErrors } from './dial-errors-view.js';
import { globals } from './globals.js';
import { ago, duration, render, renderRecord, shortId } from './output.js';
import { describeReachability } from './reachability-view.js';

function print(text: string): void {
  process.stdout.write(text);
}

export function buildProgram(): Command {
  const program = new Command('meshctl')
    .description('See and steer a Mycel mesh through the agent on this device.')
    .version(VERSION)
    .addOption(
      new Option('--api <url>', 'control API of the local agent')
        .env('MESH_API')
        .default('http://127.0.0.1:7411'),
    )
    .addOption(
      new Option('--data-dir <dir>', 'data dir of the local agent: its api.token is read from there')
        .env('MESH_DATA_DIR')
        .default('./mesh-data'),
    )
    .addOption(
      new Option(
        '--remote-token <token>',
        'talk to the mesh from afar: a join token whose bootstrap agent is asked over libp2p (light peer)',
      ).env('MESH_REMOTE_TOKEN'),
    )
    .addOption(new Option('--token-file <file>', 'control API token file (or MESH_API_TOKEN=<token>)'))
    .addOption(
      new Option('--operator-key <file>', 'operator key that signs jobs and trust changes (closed mesh)').env(
        'MESH_OPERATOR_KEY',
      ),
    )
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json', 'yaml'])
        .default('table'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('status')
    .description('this agent: identity, addresses, peers, uptime, warm-up')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const s = await client.get<AgentStatus>('/v1/status');
      print(
        await renderRecord(
          [
            ['Peer ID', s.peerId],
            ['Name', s.name],
            ['Version', s.version],
            [
              'Labels',
              Object.entries(s.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(',') || '-',
            ],
            ['Addresses', s.addresses.join(', ') || '-'],
            ['Peers', `${s.peers.alive} alive, ${s.peers.suspect} suspect, ${s.peers.lost} lost`],
            ['Connections', String(s.connections)],
            ['Reachability', describeReachability(s.reachability)],
            ['Uptime', duration(s.uptimeSeconds)],
            ...(s.warmUp
              ? [
                  ['Warm-up', `${Math.ceil(s.warmUp.remainingMs / 1000)}s left: ${s.warmUp.reason}`] as [
                    string,
                    string,
                  ],
                ]
              : []),
          ],
          format,
          s,
        ),
      );
      // Older agents send no dialErrors; -o json/yaml carries them in `s` already.
      if (format === 'table') print(renderDialErrors(s.dialErrors, Date.now()));
    });

  program
    .command('peers')
    .description('every peer this agent has heard of, with liveness and round-trip time')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const peers = (await client.get<PeerInfo[]>('/v1/peers')).sort((a, b) => a.name.localeCompare(b.name));
      const now = Date.now();
      print(
        await render(
          peers,
          [
            { header: 'NAME', value: (p) => p.name },
            { header: 'PEER ID', value: (p) => shortId(p.peerId) },
            { header: 'LIVENESS', value: (p) => p.liveness },
            { header: 'LAST SEEN', value: (p) => ago(p.lastSeen, now) },
            { header: 'RTT', value: (p) => (p.rttMs === null ? '-' : `${p.rttMs}ms`) },
            { header: 'ADDRESSES', value: (p) => p.addresses.join(',') },
          ],
          format,
        ),
      );
    });

  registerJobCommands(program);
  registerNodeCommands(program);
  registerAllocCommands(program);
  registerMeshCommands(program);
  registerImageCommands(program);
  registerServiceCommands(program);
  registerVarCommands(program);
  registerEventsCommand(program);
  registerUiCommand(program);
  program
    .command('completion')
    .description('a shell completion script: source <(meshctl completion bash), likewise zsh; fish: save it')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action((shell: Shell) => print(completionScript(shell, commandTree(program))));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed help or the usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      // No message: the exit code is the answer (alloc exec gives the command's).
      if (err.message) process.stderr.write(`meshctl: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`meshctl: ${(err as Error).message}\n`);
    return 1;
  }
}
