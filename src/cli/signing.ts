import { homedir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../crdt/canonical-json.js';
import { signJobEvent } from '../crdt/job-auth.js';
import { type JobEvent, parseJobEvent } from '../crdt/job-log.js';
import { signValue } from '../crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN, type TrustChange } from '../crdt/trust.js';
import { loadOperatorKey, type OperatorKey } from '../node/api/client-keys.js';
import type { PlannedJobEvent } from '../node/api/types.js';
import { type ApiClient, CliError } from './api-client.js';

/** Where `meshctl mesh init` puts the mesh key and the first operator key unless told otherwise. */
export function meshHome(): string {
  return process.env.MESH_HOME ?? join(homedir(), '.mycel');
}

export const OPERATOR_KEY_FILE = 'operator.key';

export async function operatorSigner(path: string | undefined): Promise<OperatorKey> {
  const file = path ?? join(meshHome(), OPERATOR_KEY_FILE);
  try {
    return await loadOperatorKey(file);
  } catch (err) {
    const hint = path ? '' : ' (pass --operator-key FILE or set MESH_OPERATOR_KEY)';
    throw new CliError(`${(err as Error).message}${hint}`);
  }
}

/**
 * Asks the agent to plan a job event, checks it is the change the operator asked for (an agent must not get a
 * different spec signed), signs it and hands it back. No event planned: nothing to sign (already so).
 */
export async function signedJobChange(
  client: ApiClient,
  key: OperatorKey,
  name: string,
  request:
    | { kind: 'submit'; source: string; fileName: string; spec: unknown }
    | { kind: 'stop' | 'purge' }
    | { kind: 'promote'; version: number },
): Promise<{ plan: PlannedJobEvent; outcome?: string }> {
  const { spec, ...body } = request as { spec?: unknown } & Record<string, unknown>;
  const plan = await client.post<PlannedJobEvent>(`/v1/jobs/${encodeURIComponent(name)}/plan`, {
    ...body,
    by: key.id,
  });
  if (!plan.event) return { plan };
  const event = parseJobEvent(plan.event);
  const version = request.kind === 'promote' ? request.version : undefined;
  if (
    !event ||
    !asked(event, request.kind, spec, key.id) ||
    (version !== undefined && event.kind === 'promote' && event.version !== version)
  ) {
    throw new CliError('the agent planned a different change than the one asked for; nothing was signed');
  }
  const signed = signJobEvent(name, event, key.id, key.sign);
  const answer = await client.post<{ outcome: string }>(`/v1/jobs/${encodeURIComponent(name)}/events`, {
    event: signed,
  });
  return { plan, outcome: answer.outcome };
}

function asked(
  event: JobEvent,
  kind: 'submit' | 'stop' | 'purge' | 'promote',
  spec: unknown,
  by: string,
): boolean {
  if (event.by !== by || event.auth) return false;
  if (kind === 'submit') {
    if (event.kind === 'start') return true;
    return event.kind === 'submit' && event.spec === canonicalJson(spec);
  }
  return event.kind === kind;
}

export async function submitTrustChange(
  client: ApiClient,
  key: OperatorKey,
  kind: TrustChange['kind'],
  subject: string,
): Promise<string> {
  const change = { kind, subject, at: Date.now() };
  const signed = signedTrustChange(change, signValue(TRUST_DOMAIN, change, key.id, key.sign));
  return (await client.post<{ outcome: string }>('/v1/trust', { change: signed })).outcome;
}
