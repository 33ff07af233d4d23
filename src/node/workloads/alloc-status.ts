import type { AllocStatus } from '../../crdt/records.js';

export type StatusPatch = Partial<Omit<AllocStatus, 'allocId' | 'node'>>;

export interface StatusIdentity {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly node: string;
}

/**
 * The alloc's status with `patch` applied. The verdict is written once: a patch never replaces one already
 * given. Built field by field, because the caller's records may carry more than the contract's fields.
 */
export function nextStatus(
  id: StatusIdentity,
  before: AllocStatus | undefined,
  patch: StatusPatch,
  now: number,
): AllocStatus {
  const merged = {
    job: id.job,
    jobVersion: id.jobVersion,
    state: 'pending' as const,
    health: 'unknown' as const,
    startedAt: now,
    restarts: 0,
    ...before,
    ...patch,
  };
  const lastError = 'lastError' in patch ? patch.lastError : before?.lastError;
  const verdict = before?.verdict ?? patch.verdict;
  // Like lastError, a patch may clear them (a copy that runs again has not ended yet).
  const exitCode = 'exitCode' in patch ? patch.exitCode : before?.exitCode;
  const finishedAt = 'finishedAt' in patch ? patch.finishedAt : before?.finishedAt;
  const ports = 'ports' in patch ? patch.ports : before?.ports;
  return {
    allocId: id.allocId,
    job: merged.job,
    jobVersion: merged.jobVersion,
    node: id.node,
    state: merged.state,
    health: merged.health,
    startedAt: merged.startedAt,
    restarts: merged.restarts,
    ...(lastError === undefined ? {} : { lastError }),
    ...(exitCode === undefined ? {} : { exitCode }),
    ...(finishedAt === undefined ? {} : { finishedAt }),
    ...(verdict === undefined ? {} : { verdict }),
    ...(ports === undefined ? {} : { ports }),
  };
}

/** Whether writing `b` after `a` would tell the mesh nothing new. */
export function sameStatus(a: AllocStatus, b: AllocStatus): boolean {
  return (
    a.allocId === b.allocId &&
    a.job === b.job &&
    a.jobVersion === b.jobVersion &&
    a.node === b.node &&
    a.state === b.state &&
    a.health === b.health &&
    a.startedAt === b.startedAt &&
    a.restarts === b.restarts &&
    a.lastError === b.lastError &&
    a.exitCode === b.exitCode &&
    a.finishedAt === b.finishedAt &&
    a.verdict?.healthy === b.verdict?.healthy &&
    a.verdict?.at === b.verdict?.at &&
    a.verdict?.reason === b.verdict?.reason &&
    samePorts(a.ports, b.ports)
  );
}

function samePorts(a: AllocStatus['ports'], b: AllocStatus['ports']): boolean {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b ?? {}).length && ak.every((k) => a?.[k] === b?.[k]);
}
