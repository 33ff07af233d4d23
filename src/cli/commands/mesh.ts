import type { Command } from 'commander';
import { globals } from '../globals.js';

const actions = () => import('./mesh-actions.js');
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `meshctl mesh init|join-token` and `meshctl operator ...`: a closed mesh's secrets and its operators. */
export function registerMeshCommands(program: Command): void {
  const mesh = program.command('mesh').description('create a closed mesh and onboard devices into it');

  mesh
    .command('init')
    .description('create a mesh: its pre-shared key and the first operator key (files, mode 0600)')
    .option('--dir <dir>', 'where to write them (default $MESH_HOME or ~/.mycel)')
    .action(async (opts: { dir?: string }) => (await actions()).init(opts.dir));

  mesh
    .command('join-token')
    .description('print the one string a device needs to join: mesh key, operator keys, bootstrap addresses')
    .option('--dir <dir>', 'the mesh directory `mesh init` wrote (default $MESH_HOME or ~/.mycel)')
    .option(
      '--bootstrap <multiaddr>',
      'an agent to join through, repeatable (default: the local agent)',
      collect,
    )
    .action(async (opts: { dir?: string; bootstrap?: string[] }, cmd: Command) =>
      (await actions()).joinToken(opts.dir, opts.bootstrap, globals(cmd).client),
    );

  const operator = program.command('operator').description('operator keys the mesh trusts (closed mesh)');

  operator
    .command('key-gen <file>')
    .description('create a new operator key (mode 0600) and print its id, for `operator add`')
    .action(async (file: string) => (await actions()).keyGen(file));

  operator
    .command('list')
    .description('the trusted operator keys and the revoked devices, as this agent derives them')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      await (await actions()).listTrust(client, format);
    });

  for (const [verb, kind] of [
    ['add', 'add-operator'],
    ['remove', 'remove-operator'],
  ] as const) {
    operator
      .command(`${verb} <key-id>`)
      .description(`${verb} an operator key; signed with your operator key and replicated to every agent`)
      .action(async (id: string, _opts, cmd: Command) => {
        const { client, operatorKey } = globals(cmd);
        await (await actions()).changeOperator(client, operatorKey, kind, id);
      });
  }
}
