/** What `meshctl var` does (var.ts registers it): values are encrypted, sealed and opened here, never by the agent. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Command } from 'commander';
import { KEY_BYTES, montgomeryPublic, NONCE_BYTES } from '../../crdt/sealed-box.js';
import { verifyValue } from '../../crdt/signature.js';
import {
  signAddedSeal,
  signVarRemoval,
  signVarVersion,
  unsignedOf,
  VAR_VERSION_DOMAIN,
  type VarVersion,
  type VarView,
  varContext,
  varPathProblem,
} from '../../crdt/var-entries.js';
import { openDataKey, openVarValues, sealTo, sealVarVersion, varValuesProblem } from '../../crdt/var-seal.js';
import type { OperatorKey } from '../../node/api/client-keys.js';
import type { VarInfo, VarPlan, VarSealed } from '../../node/api/types.js';
import { type ApiClient, CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { ago, printable, recordTable, render, shortId, table } from '../output.js';

const varUrl = (path: string, tail = '') => `/v1/vars/${encodeURIComponent(checkedPath(path))}${tail}`;

/** The agent's answer as a view, once the version is seen to be signed: an agent must not get a forgery opened. */
function signedView(path: string, sealed: VarSealed): VarView {
  const version: VarVersion = { ...sealed.entry, seals: { ...sealed.entry.seals } };
  if (!sealed.entry.auth || !verifyValue(VAR_VERSION_DOMAIN, unsignedOf(sealed.entry), sealed.entry.auth))
    throw new CliError(`variable ${path}: the agent answered a version no operator signed; nothing opened`);
  return { path, id: sealed.id, version, seals: new Map(Object.entries(sealed.seals)) };
}

/**
 * Seals the current version of each path to the recipients eligible now that hold no seal yet (a job granted
 * it was just submitted, a device joined): the operator's way in when no device holds a seal that could do it
 * (docs/security.md). Returns how many seals were added; a path that does not exist is skipped.
 */
export async function sealPending(
  client: ApiClient,
  key: OperatorKey,
  paths: readonly string[],
): Promise<number> {
  let added = 0;
  for (const path of paths) {
    let sealed: VarSealed;
    try {
      sealed = await client.get<VarSealed>(varUrl(path));
    } catch {
      continue;
    }
    if (sealed.unsealed.length === 0) continue;
    const view = signedView(path, sealed);
    const dataKey = openDataKey(view, key.id, key.sealSecret);
    if (!dataKey.ok)
      throw new CliError(`${dataKey.error}: another operator must seal it in (meshctl var seal)`);
    const plan = await client.post<VarPlan>(varUrl(path, '/plan'), {});
    for (const r of plan.recipients.filter((r) => sealed.unsealed.includes(r.id))) {
      const seal = sealTo(
        dataKey.value,
        r.pub,
        new Uint8Array(randomBytes(KEY_BYTES)),
        varContext(view.version),
      );
      const value = signAddedSeal({ version: sealed.id, to: r.id, seal, by: key.id }, key.sign);
      await client.post(varUrl(path, '/entries'), { entry: { kind: 'seal', value } });
      added++;
    }
  }
  return added;
}

function checkedPath(path: string): string {
  const problem = varPathProblem(path);
  if (problem) throw new CliError(problem);
  return path;
}

async function operatorSigner(path: string | undefined) {
  return (await import('../signing.js')).operatorSigner(path);
}

function publicKeyOf(id: string): Uint8Array {
  return peerIdFromString(id).publicKey!.raw;
}

/** KEY=VALUE, KEY=@FILE, KEY=- (stdin, once). A value that starts with @ in clear must come from a file. */
async function readPairs(pairs: readonly string[]): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  let stdinUsed = false;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`"${pair.slice(0, 64)}" is not KEY=VALUE (or KEY=@FILE, KEY=-)`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    if (Object.hasOwn(values, key)) throw new CliError(`key ${key} is given twice`);
    if (raw === '-') {
      if (stdinUsed) throw new CliError('only one key may read standard input (KEY=-)');
      stdinUsed = true;
      values[key] = stripNewline(await readStdin());
    } else if (raw.startsWith('@')) {
      try {
        values[key] = stripNewline(await readFile(raw.slice(1), 'utf8'));
      } catch (err) {
        throw new CliError(
          `cannot read ${raw.slice(1)} for ${key}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
    } else values[key] = raw;
  }
  return values;
}

/** One trailing newline (an `echo` or an editor's) is not part of a secret; anything else is kept as written. */
function stripNewline(text: string): string {
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function putVar(path: string, pairs: string[], c: Command): Promise<void> {
  const { client, format, operatorKey } = globals(c);
  const values = await readPairs(pairs);
  const problem = varValuesProblem(values);
  if (problem) throw new CliError(problem);
  const key = await operatorSigner(operatorKey);
  const plan = await client.post<VarPlan>(varUrl(path, '/plan'), {});
  // The operator's own machine always holds a seal, whatever the agent lists: `var get` must work.
  const ownPub = Buffer.from(montgomeryPublic(publicKeyOf(key.id))).toString('base64');
  const recipients = [
    ...plan.recipients.filter((r) => r.id !== key.id),
    { id: key.id, pub: ownPub, kind: 'operator' as const },
  ];
  const unsigned = sealVarVersion(
    { path, version: plan.version, at: Date.now(), by: key.id },
    values,
    recipients,
    {
      dataKey: new Uint8Array(randomBytes(KEY_BYTES)),
      nonce: new Uint8Array(randomBytes(NONCE_BYTES)),
      ephemeral: () => new Uint8Array(randomBytes(KEY_BYTES)),
    },
  );
  const entry = { kind: 'version', value: signVarVersion(unsigned, key.id, key.sign) };
  const answer = await client.post<{ outcome: string }>(varUrl(path, '/entries'), { entry });
  const devices = recipients.filter((r) => r.kind === 'device').length;
  const result = {
    path,
    version: plan.version,
    outcome: answer.outcome,
    sealedTo: { operators: recipients.length - devices, devices },
  };
  process.stdout.write(
    format === 'table'
      ? `${path}: version ${plan.version} ${answer.outcome}, sealed to ${result.sealedTo.operators} operator(s) and ${devices} device(s)${devices === 0 ? ' (no job granted it runs anywhere yet: devices are sealed in when one may)' : ''}\n`
      : await render([], [], format, result),
  );
}

export async function getVar(path: string, c: Command): Promise<void> {
  const { client, format, operatorKey } = globals(c);
  const key = await operatorSigner(operatorKey);
  const sealed = await client.get<VarSealed>(varUrl(path));
  const view = signedView(path, sealed);
  const values = openVarValues(view, key.id, key.sealSecret);
  if (!values.ok)
    throw new CliError(
      `${values.error}: only the operators it was sealed to open it (${sealed.sealedTo.map(shortId).join(', ')})`,
    );
  const result = { path, version: sealed.version, at: sealed.at, by: sealed.by, values: values.value };
  if (format !== 'table') {
    process.stdout.write(await render([], [], format, result));
    return;
  }
  const head = recordTable([
    ['Path', path],
    ['Version', `${sealed.version} (${ago(sealed.at, Date.now())} by ${shortId(sealed.by)})`],
  ]);
  const rows = Object.entries(values.value).map(([k, v]) => ({ k, v }));
  process.stdout.write(
    `${head}\n${table(rows, [
      { header: 'KEY', value: (r) => r.k },
      { header: 'VALUE', value: (r) => printable(r.v) },
    ])}`,
  );
}

export async function listVar(prefix: string | undefined, c: Command): Promise<void> {
  const { client, format } = globals(c);
  const query = prefix ? `?prefix=${encodeURIComponent(prefix)}` : '';
  const vars = await client.get<VarInfo[]>(`/v1/vars${query}`);
  const now = Date.now();
  process.stdout.write(
    await render(
      vars,
      [
        { header: 'PATH', value: (v) => v.path },
        { header: 'VERSION', value: (v) => String(v.version) },
        { header: 'UPDATED', value: (v) => ago(v.at, now) },
        { header: 'BY', value: (v) => shortId(v.by) },
        { header: 'SEALED TO', value: (v) => String(v.sealedTo.length) },
        { header: 'UNSEALED', value: (v) => v.unsealed.map(shortId).join(',') || '-' },
        { header: 'THIS DEVICE', value: (v) => v.thisDevice },
      ],
      format,
    ),
  );
}

export async function sealVar(prefix: string | undefined, c: Command): Promise<void> {
  const { client, format, operatorKey } = globals(c);
  const key = await operatorSigner(operatorKey);
  const query = prefix ? `?prefix=${encodeURIComponent(prefix)}` : '';
  const vars = await client.get<VarInfo[]>(`/v1/vars${query}`);
  const added = await sealPending(
    client,
    key,
    vars.filter((v) => v.unsealed.length > 0).map((v) => v.path),
  );
  process.stdout.write(
    format === 'table' ? `${added} seal(s) added\n` : await render([], [], format, { sealsAdded: added }),
  );
}

export async function rmVar(path: string, c: Command): Promise<void> {
  const { client, format, operatorKey } = globals(c);
  const key = await operatorSigner(operatorKey);
  const plan = await client.post<VarPlan>(varUrl(path, '/plan'), {});
  if (plan.current === undefined) throw new CliError(`no variable ${path} (meshctl var list shows them)`);
  const removal = signVarRemoval(
    { path, upTo: plan.version - 1, at: Date.now(), by: key.id },
    key.id,
    key.sign,
  );
  const answer = await client.post<{ outcome: string }>(varUrl(path, '/entries'), {
    entry: { kind: 'removal', value: removal },
  });
  const result = { path, removedUpTo: plan.version - 1, outcome: answer.outcome };
  process.stdout.write(
    format === 'table'
      ? `${path}: removed (versions up to ${plan.version - 1})\n`
      : await render([], [], format, result),
  );
}
