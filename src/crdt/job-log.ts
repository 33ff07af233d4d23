import { z } from 'zod';
import { sha256Hex } from '../lib/digest.js';
import { parseJson } from '../lib/json-text.js';
import { canonicalJson, type JsonValue } from './canonical-json.js';

/**
 * A job is an append-only set of immutable events, each stored under the hash of its content. Automerge never
 * merges two specs field by field (that would make a spec nobody wrote): concurrent writers only add events, the
 * merge of two replicas is the union of their events, and everything else is derived here by total orders that
 * every replica computes identically.
 *
 * - `seq` is a Lamport clock: a new event gets 1 + the highest seq its writer has seen, so an event always
 *   orders after everything its writer knew about.
 * - Desired status is the kind of the greatest event by (seq, at, key): `submit`/`start` → running, `stop` →
 *   stopped, `purge` → the job is gone. A stop issued after seeing a run wins; between concurrent ones the later
 *   wall-clock time wins, then the greater key, so every replica picks the same one.
 * - A purge records the highest version its writer saw and removes every submission up to it, whatever their
 *   seq: that keeps pruning independent of how concurrent purges and submissions interleave.
 * - The current spec is the greatest remaining `submit` by (version, at, key). A submission gets
 *   version = 1 + the highest version its writer has seen; concurrent updates of the same version both stay in
 *   the history and the later (then greater key) one is current everywhere.
 * - A `promote` names a version whose rollout may go past its first wave or canaries (`update.autoPromote:
 *   false`). It is a fact about that version, not a desired status: it never decides running or stopped, and
 *   it counts while its version is in the log.
 */
const int = z.number().int();
/** An operator's signature over the event (job-auth.ts); required in a closed mesh, absent in an open one. */
const auth = z.object({ signer: z.string().min(1).max(128), sig: z.string().max(128) }).optional();
const common = { seq: int.min(1), at: int.min(0), by: z.string().max(256), auth };
const eventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('submit'), ...common, version: int.min(1), spec: z.string() }),
  z.object({ kind: z.literal('start'), ...common }),
  z.object({ kind: z.literal('stop'), ...common }),
  z.object({ kind: z.literal('purge'), ...common, version: int.min(0) }),
  z.object({ kind: z.literal('promote'), ...common, version: int.min(1) }),
]);
export type JobEvent = z.output<typeof eventSchema>;
export type SubmitEvent = Extract<JobEvent, { kind: 'submit' }>;
export type KeyedEvent = { readonly key: string; readonly event: JobEvent };

export interface JobVersion {
  readonly version: number;
  /** Identifies the spec content: two specs that share a version number never share a hash. */
  readonly specHash: string;
  readonly spec: JsonValue;
  readonly submittedBy: string;
  readonly submittedAt: number;
}

export interface JobView {
  readonly name: string;
  readonly desired: 'running' | 'stopped';
  readonly desiredSince: number;
  readonly desiredBy: string;
  readonly current: JobVersion;
  /** Newest first by the same order that picks `current`; includes concurrent versions that lost. */
  readonly history: readonly JobVersion[];
  /** Versions of `history` an operator promoted, ascending; absent when none. */
  readonly promoted?: readonly number[];
}

const KEY_PREFIX = 'e:';

export function keyed(event: JobEvent): KeyedEvent {
  return { key: KEY_PREFIX + sha256Hex(canonicalJson(event), 32), event };
}

/** A job event from outside (the control API): undefined unless it is exactly an event. */
export function parseJobEvent(value: unknown): JobEvent | undefined {
  const parsed = eventSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function eventText(event: JobEvent): string {
  return canonicalJson(event);
}

/** An entry counts only if it parses and its key is the hash of its content: stored events cannot be edited. */
export function readEvent(key: string, text: string): KeyedEvent | undefined {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  let value: unknown;
  try {
    value = parseJson(text);
  } catch {
    return undefined;
  }
  const parsed = eventSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const event = keyed(parsed.data);
  return event.key === key ? event : undefined;
}

export function readEvents(entries: ReadonlyMap<string, string>): KeyedEvent[] {
  const out: KeyedEvent[] = [];
  for (const [key, text] of entries) {
    const event = readEvent(key, text);
    if (event) out.push(event);
  }
  return out;
}

const byKey = (a: KeyedEvent, b: KeyedEvent): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export function compareEvents(a: KeyedEvent, b: KeyedEvent): number {
  return a.event.seq - b.event.seq || a.event.at - b.event.at || byKey(a, b);
}

function compareSubmits(a: Submitted, b: Submitted): number {
  return a.event.version - b.event.version || a.event.at - b.event.at || byKey(a, b);
}

type Submitted = { readonly key: string; readonly event: SubmitEvent };
const isSubmit = (e: KeyedEvent): e is Submitted => e.event.kind === 'submit';

interface Split {
  readonly sorted: KeyedEvent[];
  /** The greatest event: it decides the desired status. */
  readonly last: KeyedEvent | undefined;
  /** The purge with the highest version: submissions up to that version are gone. */
  readonly purge: KeyedEvent | undefined;
  /** Submissions of the present life (version above every purge), greatest first. */
  readonly live: Submitted[];
  /** Promotions of versions of the present life. */
  readonly promotions: KeyedEvent[];
}

const purgedUpTo = (e: KeyedEvent | undefined): number => (e?.event.kind === 'purge' ? e.event.version : 0);

function split(events: readonly KeyedEvent[]): Split {
  const all = [...events].sort(compareEvents);
  const sorted = all.filter((e) => e.event.kind !== 'promote');
  let purge: KeyedEvent | undefined;
  for (const e of sorted) {
    if (e.event.kind === 'purge' && (!purge || e.event.version >= purgedUpTo(purge))) purge = e;
  }
  const live = sorted
    .filter(isSubmit)
    .filter((e) => e.event.version > purgedUpTo(purge))
    .sort(compareSubmits)
    .reverse();
  const promotions = all.filter((e) => e.event.kind === 'promote' && e.event.version > purgedUpTo(purge));
  return { sorted, last: sorted.at(-1), purge, live, promotions };
}

export function nextSeq(events: readonly KeyedEvent[]): number {
  return events.reduce((max, e) => Math.max(max, e.event.seq), 0) + 1;
}

/** A promotion only names a version (a stray one, of a version never submitted, moves no numbering). */
export function nextVersion(events: readonly KeyedEvent[]): number {
  const numbered = (e: KeyedEvent) => e.event.kind === 'submit' || e.event.kind === 'purge';
  return (
    events.reduce(
      (max, e) => (numbered(e) && 'version' in e.event ? Math.max(max, e.event.version) : max),
      0,
    ) + 1
  );
}

function toVersion(e: Submitted): JobVersion {
  return {
    version: e.event.version,
    specHash: sha256Hex(e.event.spec, 32),
    spec: parseJson(e.event.spec) as JsonValue,
    submittedBy: e.event.by,
    submittedAt: e.event.at,
  };
}

export function deriveJob(name: string, events: readonly KeyedEvent[]): JobView | undefined {
  const { last, live, promotions } = split(events);
  if (!last || last.event.kind === 'purge' || live.length === 0) return undefined;
  let history: JobVersion[];
  try {
    history = live.map(toVersion);
  } catch {
    return undefined;
  }
  return {
    name,
    desired: last.event.kind === 'stop' ? 'stopped' : 'running',
    desiredSince: last.event.at,
    desiredBy: last.event.by,
    current: history[0]!,
    history,
    ...promotedVersions(promotions, history),
  };
}

function promotedVersions(
  promotions: readonly KeyedEvent[],
  history: readonly JobVersion[],
): { promoted?: number[] } {
  const known = new Set(history.map((v) => v.version));
  const out = new Set<number>();
  for (const { event } of promotions)
    if (event.kind === 'promote' && known.has(event.version)) out.add(event.version);
  return out.size === 0 ? {} : { promoted: [...out].sort((a, b) => a - b) };
}

/** Submissions a compacted job document keeps. A protocol constant: replicas must agree on it (see `prune`). */
export const KEPT_VERSIONS = 10;

/**
 * The events a compacted job document keeps: the purge with the highest version (a tombstone, so stale replicas
 * cannot resurrect what it removed), the event that decides the desired status, the newest `keepVersions`
 * submissions of the present life and the promotions of versions not older than the oldest of them. It depends
 * only on the set of events (and every replica must use the same `keepVersions`), and an event it drops from a
 * set S stays dropped from any superset of what it kept from S: that is what lets replicas re-add their own missing events after adopting a
 * compacted document without bringing pruned ones back.
 */
export function prune(events: readonly KeyedEvent[], keepVersions = KEPT_VERSIONS): KeyedEvent[] {
  const { last, purge, live, promotions } = split(events);
  const keptLive = live.slice(0, keepVersions);
  // Promotions of versions from the oldest kept one up: a bound that only rises as events are added, so what
  // it drops stays dropped.
  const from = keptLive.length < keepVersions ? 0 : Math.min(...keptLive.map((e) => e.event.version));
  const promoted = promotions.filter((e) => e.event.kind === 'promote' && e.event.version >= from);
  const kept = new Map<string, KeyedEvent>();
  for (const e of [purge, last, ...keptLive, ...promoted]) if (e) kept.set(e.key, e);
  return [...kept.values()].sort(compareEvents);
}
