import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Command } from 'commander';
import { isKeyId } from '../../crdt/signature.js';
import type { AgentStatus } from '../../node/agent.js';
import { encodeJoinToken, parsePnetKey, pnetKey } from '../../node/join-token.js';
import { operatorKey, readSecretFile, writeOperatorKey, writeSecretFile } from '../../node/key-file.js';
import type { TrustInfo } from '../../node/routes/signed-routes.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { render, shortId } from '../output.js';
import { meshHome, OPERATOR_KEY_FILE, operatorSigner, submitTrustChange } from '../signing.js';

const MESH_KEY_FILE = 'mesh.key';
const MESH_FILE = 'mesh.json';

/** The public half of a mesh: its initial operators, the root every agent's trust chain starts from. */
interface MeshFile {
  version: 1;
  operators: string[];
}

/** `meshctl mesh init|join-token` and `meshctl operator ...`: a closed mesh's secrets and its operators. */
export function registerMeshCommands(program: Command): void {
  const mesh = program.command('mesh').description('create a closed mesh and onboard devices into it');

  mesh
    .command('init')
    .description('create a mesh: its pre-shared key and the first operator key (files, mode 0600)')
    .option('--dir <dir>', 'where to write them (default $MESH_HOME or ~/.mycel)')
    .action(async (opts: { dir?: string }) => {
      const dir = opts.dir ?? meshHome();
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const key = await generateKeyPair('Ed25519');
      const operator = operatorKey(key);
      await writeSecretFile(join(dir, MESH_KEY_FILE), pnetKey(randomBytes(32))).catch(fail);
      await writeOperatorKey(join(dir, OPERATOR_KEY_FILE), key).catch(fail);
      const meshFile: MeshFile = { version: 1, operators: [operator.id] };
      await writeFile(join(dir, MESH_FILE), `${JSON.stringify(meshFile, null, 2)}\n`);
      process.stdout.write(
        `mesh created in ${dir}\n` +
          `  ${MESH_KEY_FILE}      pre-shared key: devices without it cannot connect (keep it secret)\n` +
          `  ${OPERATOR_KEY_FILE}  operator key ${operator.id} (signs jobs; keep it secret)\n` +
          `next: meshctl mesh join-token --dir ${dir} --bootstrap /ip4/<first device>/tcp/4001\n`,
      );
    });

  mesh
    .command('join-token')
    .description('print the one string a device needs to join: mesh key, operator keys, bootstrap addresses')
    .option('--dir <dir>', 'the mesh directory `mesh init` wrote (default $MESH_HOME or ~/.mycel)')
    .option(
      '--bootstrap <multiaddr>',
      'an agent to join through, repeatable (default: the local agent)',
      collect,
    )
    .action(async (opts: { dir?: string; bootstrap?: string[] }, cmd: Command) => {
      const dir = opts.dir ?? meshHome();
      const psk = parsePnetKey(
        (await readSecretFile(join(dir, MESH_KEY_FILE), 'mesh key').catch(fail)).toString(),
      );
      if (!psk.ok) throw new CliError(`${join(dir, MESH_KEY_FILE)}: ${psk.error}`);
      const meshFile = await readMeshFile(dir);
      const bootstrap = opts.bootstrap ?? (await localAddresses(cmd));
      process.stdout.write(
        `${encodeJoinToken({ psk: psk.value, operators: meshFile.operators, bootstrap })}\n`,
      );
    });

  const operator = program.command('operator').description('operator keys the mesh trusts (closed mesh)');

  operator
    .command('key-gen <file>')
    .description('create a new operator key (mode 0600) and print its id, for `operator add`')
    .action(async (file: string) => {
      const key = await generateKeyPair('Ed25519');
      await writeOperatorKey(file, key).catch(fail);
      process.stdout.write(`${operatorKey(key).id}\n`);
    });

  operator
    .command('list')
    .description('the trusted operator keys and the revoked devices, as this agent derives them')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const trust = await client.get<TrustInfo>('/v1/trust');
      const rows = [
        ...trust.operators.map((id) => ({ kind: 'operator', id })),
        ...trust.revoked.map((id) => ({ kind: 'revoked node', id })),
      ];
      process.stdout.write(
        render(
          rows,
          [
            { header: 'KIND', value: (r) => r.kind },
            { header: 'KEY', value: (r) => r.id },
          ],
          format,
          trust,
        ),
      );
    });

  for (const [verb, kind, done] of [
    ['add', 'add-operator', 'now trusted'],
    ['remove', 'remove-operator', 'no longer trusted'],
  ] as const) {
    operator
      .command(`${verb} <key-id>`)
      .description(`${verb} an operator key; signed with your operator key and replicated to every agent`)
      .action(async (id: string, _opts, cmd: Command) => {
        if (!isKeyId(id))
          throw new CliError(`"${id}" is not an operator key id (\`operator key-gen\` prints one)`);
        const { client, operatorKey: path } = globals(cmd);
        await submitTrustChange(client, await operatorSigner(path), kind, id);
        process.stdout.write(`operator ${shortId(id)} ${done}\n`);
      });
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function fail(err: unknown): never {
  throw new CliError((err as Error).message);
}

async function readMeshFile(dir: string): Promise<MeshFile> {
  const path = join(dir, MESH_FILE);
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as MeshFile;
    if (value.version !== 1 || !Array.isArray(value.operators) || !value.operators.every(isKeyId)) {
      throw new Error('unexpected content');
    }
    return value;
  } catch (err) {
    throw new CliError(
      `${path}: ${(err as Error).message}; is ${dir} a directory \`meshctl mesh init\` made?`,
    );
  }
}

async function localAddresses(cmd: Command): Promise<string[]> {
  const { client } = globals(cmd);
  try {
    const status = await client.get<AgentStatus>('/v1/status');
    return status.addresses.filter((a) => !a.includes('/ip4/127.') && !a.includes('/ip6/::1/'));
  } catch (err) {
    throw new CliError(
      `no --bootstrap given and the local agent cannot tell its addresses (${(err as Error).message})`,
    );
  }
}
