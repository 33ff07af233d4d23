import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { isKeyId } from '../../crdt/signature.js';
import { parseJson } from '../../lib/json-text.js';
import { readSecretFile, writeSecretFile } from '../../lib/secret-file.js';
import {
  encodeJoinToken,
  operatorKey,
  parsePnetKey,
  pnetKey,
  writeOperatorKey,
} from '../../node/api/client-keys.js';
import type { AgentStatus, TrustInfo } from '../../node/api/types.js';
import { type ApiClient, CliError } from '../api-client.js';
import type { OutputFormat } from '../output.js';
import { render, shortId } from '../output.js';
import { meshHome, OPERATOR_KEY_FILE, operatorSigner, submitTrustChange } from '../signing.js';

/**
 * What `meshctl mesh ...` and `meshctl operator ...` do; loaded only when one of them runs, so the other
 * commands do not pay for the key handling at start.
 */
const MESH_KEY_FILE = 'mesh.key';
const MESH_FILE = 'mesh.json';

/** The public half of a mesh: its initial operators, the root every agent's trust chain starts from. */
interface MeshFile {
  version: 1;
  operators: string[];
}

export async function init(dir = meshHome()): Promise<void> {
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
}

export async function joinToken(
  dir = meshHome(),
  bootstrap: string[] | undefined,
  client: ApiClient,
): Promise<void> {
  const psk = parsePnetKey(
    (await readSecretFile(join(dir, MESH_KEY_FILE), 'mesh key').catch(fail)).toString(),
  );
  if (!psk.ok) throw new CliError(`${join(dir, MESH_KEY_FILE)}: ${psk.error}`);
  const meshFile = await readMeshFile(dir);
  const addresses = bootstrap ?? (await localAddresses(client));
  process.stdout.write(
    `${encodeJoinToken({ psk: psk.value, operators: meshFile.operators, bootstrap: addresses })}\n`,
  );
}

export async function keyGen(file: string): Promise<void> {
  const key = await generateKeyPair('Ed25519');
  await writeOperatorKey(file, key).catch(fail);
  process.stdout.write(`${operatorKey(key).id}\n`);
}

export async function listTrust(client: ApiClient, format: OutputFormat): Promise<void> {
  const trust = await client.get<TrustInfo>('/v1/trust');
  const rows = [
    ...trust.operators.map((id) => ({ kind: 'operator', id })),
    ...trust.revoked.map((id) => ({ kind: 'revoked node', id })),
    ...(trust.drained ?? []).map((id) => ({ kind: 'drained node', id })),
  ];
  process.stdout.write(
    await render(
      rows,
      [
        { header: 'KIND', value: (r) => r.kind },
        { header: 'KEY', value: (r) => r.id },
      ],
      format,
      trust,
    ),
  );
}

export async function changeOperator(
  client: ApiClient,
  keyPath: string | undefined,
  kind: 'add-operator' | 'remove-operator',
  id: string,
): Promise<void> {
  if (!isKeyId(id)) throw new CliError(`"${id}" is not an operator key id (\`operator key-gen\` prints one)`);
  await submitTrustChange(client, await operatorSigner(keyPath), kind, id);
  process.stdout.write(
    `operator ${shortId(id)} ${kind === 'add-operator' ? 'now trusted' : 'no longer trusted'}\n`,
  );
}

function fail(err: unknown): never {
  throw new CliError((err as Error).message);
}

async function readMeshFile(dir: string): Promise<MeshFile> {
  const path = join(dir, MESH_FILE);
  try {
    const value = parseJson(await readFile(path, 'utf8')) as MeshFile;
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

async function localAddresses(client: ApiClient): Promise<string[]> {
  try {
    const status = await client.get<AgentStatus>('/v1/status');
    return status.addresses.filter((a) => !a.includes('/ip4/127.') && !a.includes('/ip6/::1/'));
  } catch (err) {
    throw new CliError(
      `no --bootstrap given and the local agent cannot tell its addresses (${(err as Error).message})`,
    );
  }
}
