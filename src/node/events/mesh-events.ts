/**
 * The mesh's changes as events, derived by comparing two views of this agent's replica and liveness: what
 * `meshctl events` shows. Pure: the views and the time come in. Every agent derives its own, so an agent cut off
 * sees the changes it hears of, when it hears of them.
 */

/** A job as the events need it: its current version, whether it should run, and whether it was promoted. */
export interface JobLook {
  readonly version: number;
  readonly desired: 'running' | 'stopped';
  /** An operator promoted the current version (`meshctl job promote`). Absent: not. */
  readonly promoted?: boolean;
}

/** A copy as the events need it. */
export interface CopyLook {
  readonly job: string;
  readonly node: string;
  readonly state: 'pending' | 'starting' | 'running' | 'failed' | 'complete' | 'lost';
  readonly health: 'unknown' | 'healthy' | 'unhealthy';
  readonly lastError?: string | undefined;
  readonly exitCode?: number | undefined;
}

/** `unheard`: its record arrived, its beats not yet (a newcomer): no event until it is heard. */
export type DeviceCondition = 'alive' | 'suspect' | 'lost' | 'left' | 'revoked' | 'unheard';
type Announced = Exclude<DeviceCondition, 'unheard'>;

/** A device as the events need it: its record's name and how this agent hears it. */
export interface DeviceLook {
  readonly name: string;
  readonly condition: DeviceCondition;
}

/** Maps keyed by job name, alloc id and peer id. */
export interface MeshLook {
  readonly jobs: ReadonlyMap<string, JobLook>;
  readonly copies: ReadonlyMap<string, CopyLook>;
  readonly devices: ReadonlyMap<string, DeviceLook>;
}

export type MeshEventKind =
  | 'job-submitted'
  | 'job-updated'
  | 'job-stopped'
  | 'job-started'
  | 'job-purged'
  | 'job-promoted'
  | 'copy-placed'
  | 'copy-starting'
  | 'copy-running'
  | 'copy-restarting'
  | 'copy-healthy'
  | 'copy-unhealthy'
  | 'copy-failed'
  | 'copy-complete'
  | 'copy-lost'
  | 'copy-removed'
  | 'device-joined'
  | 'device-alive'
  | 'device-suspect'
  | 'device-lost'
  | 'device-left'
  | 'device-revoked'
  | 'device-forgotten';

export interface MeshEvent {
  /** Per agent, increasing: a follower that reconnects asks for what came after the last one it saw. */
  readonly seq: number;
  readonly at: number;
  readonly kind: MeshEventKind;
  readonly job?: string;
  readonly version?: number;
  readonly allocId?: string;
  /** Peer id of the device the event is about or happened on, and its name when known. */
  readonly node?: string;
  readonly nodeName?: string;
  readonly reason?: string;
}

export type UnnumberedEvent = Omit<MeshEvent, 'seq'>;

export const EMPTY_LOOK: MeshLook = { jobs: new Map(), copies: new Map(), devices: new Map() };

/** What changed from `before` to `after`, in a stable order: jobs, then devices, then copies, each by key. */
export function meshEvents(before: MeshLook, after: MeshLook, at: number): UnnumberedEvent[] {
  return [
    ...jobEvents(before, after, at),
    ...deviceEvents(before, after, at),
    ...copyEvents(before, after, at),
  ];
}

function jobEvents(before: MeshLook, after: MeshLook, at: number): UnnumberedEvent[] {
  const events: UnnumberedEvent[] = [];
  for (const name of sortedKeys(before.jobs, after.jobs)) {
    const was = before.jobs.get(name);
    const is = after.jobs.get(name);
    if (!is) {
      events.push({ at, kind: 'job-purged', job: name });
      continue;
    }
    const job = { at, job: name, version: is.version };
    if (!was) events.push({ ...job, kind: 'job-submitted' });
    else if (is.version !== was.version)
      events.push({ ...job, kind: 'job-updated', reason: `was version ${was.version}` });
    if (was && was.desired !== is.desired)
      events.push({ ...job, kind: is.desired === 'stopped' ? 'job-stopped' : 'job-started' });
    if (is.promoted === true && (was?.promoted !== true || was.version !== is.version))
      events.push({ ...job, kind: 'job-promoted' });
  }
  return events;
}

function deviceEvents(before: MeshLook, after: MeshLook, at: number): UnnumberedEvent[] {
  const events: UnnumberedEvent[] = [];
  for (const peer of sortedKeys(before.devices, after.devices)) {
    const was = before.devices.get(peer);
    const is = after.devices.get(peer);
    const device = { at, node: peer, nodeName: (is ?? was)?.name ?? peer };
    if (!is) events.push({ ...device, kind: 'device-forgotten' });
    else if (!was) events.push({ ...device, kind: 'device-joined' }, ...joinedAs(device, is.condition));
    else if (was.condition !== is.condition && is.condition !== 'unheard')
      events.push({ ...device, kind: `device-${is.condition as Announced}` });
  }
  return events;
}

/** A device first heard of in another condition than alive also says which. */
function joinedAs(device: Omit<UnnumberedEvent, 'kind'>, condition: DeviceCondition): UnnumberedEvent[] {
  return condition === 'alive' || condition === 'unheard' ? [] : [{ ...device, kind: `device-${condition}` }];
}

function copyEvents(before: MeshLook, after: MeshLook, at: number): UnnumberedEvent[] {
  const events: UnnumberedEvent[] = [];
  for (const allocId of sortedKeys(before.copies, after.copies)) {
    const was = before.copies.get(allocId);
    const is = after.copies.get(allocId);
    const copy = is ?? was!;
    const base = {
      at,
      allocId,
      job: copy.job,
      node: copy.node,
      nodeName: after.devices.get(copy.node)?.name ?? before.devices.get(copy.node)?.name ?? copy.node,
    };
    if (!is) {
      events.push({ ...base, kind: 'copy-removed' });
      continue;
    }
    if (!was) events.push({ ...base, kind: 'copy-placed' });
    // A new copy that is pending has said placed already.
    if (was?.state !== is.state && (was !== undefined || is.state !== 'pending')) {
      // Back to pending after it ran: waiting out its restart delay on the same device, not placed again.
      const restarting = was !== undefined && is.state === 'pending';
      const reason = restarting ? is.lastError : stateReason(is);
      events.push({
        ...base,
        kind: restarting ? 'copy-restarting' : `copy-${is.state === 'pending' ? 'placed' : is.state}`,
        ...(reason ? { reason } : {}),
      });
    }
    if ((was?.health ?? 'unknown') !== is.health && is.health !== 'unknown')
      events.push({ ...base, kind: `copy-${is.health}` });
  }
  return events;
}

function stateReason(copy: CopyLook): string | undefined {
  if (copy.state === 'failed')
    return copy.lastError ?? (copy.exitCode === undefined ? undefined : `exit ${copy.exitCode}`);
  if (copy.state === 'complete' && copy.exitCode !== undefined) return `exit ${copy.exitCode}`;
  return undefined;
}

function sortedKeys(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}
