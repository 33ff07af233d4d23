import type { JobPlacement } from '../../node/api/types.js';
import { type ApiClient, CliError } from '../api-client.js';

/** What `job run` says after the job is stored: the local agent's placement of the version it submitted. */
export interface RunPlacement {
  /** False when the agent had not placed the version within the wait: nothing is known yet. */
  computed: boolean;
  placed: number;
  count: number;
  unplaced: { slot: number; reasons: readonly string[] }[];
  /** The agent cannot read the spec it stores (a newer agent's field): it places nothing of it. */
  unreadable?: string;
}

const POLL_MS = 100;

/**
 * Placement is debounced on the agent (100 ms by default) and runs once the change is applied, so the
 * submitted version shows up there within moments; a slow agent gets `waitMs` before the answer is "unknown".
 */
export async function placementOfVersion(
  client: ApiClient,
  name: string,
  version: number,
  waitMs = 5_000,
): Promise<RunPlacement> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const p = await client
      .get<JobPlacement>(`/v1/placement/${encodeURIComponent(name)}`)
      .catch(() => undefined);
    // A job run again after a stop is placed once the agent has seen it wanted again.
    if (p !== undefined && 'version' in p && p.version >= version && p.status !== 'stopped')
      return summarize(p);
    if (Date.now() >= deadline) return { computed: false, placed: 0, count: 0, unplaced: [] };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export function summarize(p: JobPlacement): RunPlacement {
  if (p.status === 'unreadable')
    return { computed: true, placed: 0, count: 0, unplaced: [], unreadable: p.unreadable };
  const count = p.status === 'running' ? p.count : 0;
  const unplaced = p.unplaced.map((u) => ({ slot: u.slot, reasons: u.reasons }));
  return { computed: true, placed: count - unplaced.length, count, unplaced };
}

/** Lines for people, Nomad's "Placement Failure" in small. */
export function placementLines(name: string, p: RunPlacement): string {
  if (!p.computed) return `placement: not computed yet on this agent; see \`meshctl job status ${name}\`\n`;
  if (p.unreadable !== undefined) return `placement: none, this agent cannot read the job: ${p.unreadable}\n`;
  const head = `placement: ${p.placed} of ${p.count} ${p.count === 1 ? 'copy' : 'copies'} placed\n`;
  return `${head}${p.unplaced.map((u) => `  slot ${u.slot} unplaced: ${reasonText(u.reasons)}\n`).join('')}`;
}

/** Exit 2 as `nomad job run` does when copies cannot be placed; the job itself is stored. */
export function placementFailure(name: string, p: RunPlacement): CliError | undefined {
  if (!p.computed) return undefined;
  if (p.unreadable !== undefined)
    return new CliError(`job "${name}" is stored, but this agent cannot place it: ${p.unreadable}`, 2);
  if (p.unplaced.length === 0) return undefined;
  return new CliError(
    `job "${name}" is stored, but ${p.unplaced.length} of ${p.count} copies cannot be placed: ${reasonText(p.unplaced[0]!.reasons)}`,
    2,
  );
}

export function reasonText(reasons: readonly string[]): string {
  return reasons.join('; ') || 'no eligible node';
}
