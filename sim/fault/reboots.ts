import type { RuntimeEvent } from '../driver/sim-runtime.js';

/** A fleet step as the runner performed it: what happened to which node, and when (performance.now() ms). */
export interface TimedStep {
  readonly kind: string;
  readonly node?: string;
  readonly at: number;
}

/** What one device did after it booted again (a `restart` step after its `crash`). */
export interface RebootOutcome {
  readonly node: string;
  /** Copies it ran when it lost power. */
  readonly ownCopies: number;
  /** Simulated seconds from its boot until every one of those ran again; null if one never did while cut off. */
  readonly ownBackS: number | null;
  /** Copies it had not run before the crash and started while still cut off (isolated, or before a heal). */
  readonly othersStartedWhileCutOff: readonly string[];
}

/**
 * The offline-reboot judgement (issue 19): a device that boots while no peer is reachable runs its own copies
 * again at once, from its replica, and starts nobody else's work while it is still cut off. Computed from the
 * runtime's start/stop record and the performed steps; `scale` turns real ms into simulated seconds.
 */
export function rebootOutcomes(
  steps: readonly TimedStep[],
  events: readonly RuntimeEvent[],
  nameOf: (peerId: string) => string | undefined,
  scale: number,
): RebootOutcome[] {
  const outcomes: RebootOutcome[] = [];
  steps.forEach((step, i) => {
    if (step.kind !== 'restart' || step.node === undefined) return;
    const node = step.node;
    const crash = steps.slice(0, i).findLast((s) => s.kind === 'crash' && s.node === node);
    if (!crash) return;
    const later = steps.slice(i + 1);
    const reconnected = later.find((s) => s.kind === 'heal' || (s.kind === 'rejoin' && s.node === node));
    const cutOffUntil = reconnected?.at ?? Number.POSITIVE_INFINITY;
    const on = (e: RuntimeEvent) => nameOf(e.workload.owner) === node;
    const own = new Set(
      events
        .filter(
          (e) =>
            e.kind === 'stop' && e.why === 'device-crash' && on(e) && e.at >= crash.at && e.at <= step.at,
        )
        .map((e) => e.workload.allocId),
    );
    const startsWhileCutOff = events.filter(
      (e) => e.kind === 'start' && on(e) && e.at >= step.at && e.at < cutOffUntil,
    );
    const backAt = [...own].map((id) => startsWhileCutOff.find((e) => e.workload.allocId === id)?.at);
    const ownBackS = backAt.some((at) => at === undefined)
      ? null
      : Math.round(((Math.max(step.at, ...(backAt as number[])) - step.at) / 1000) * scale * 10) / 10;
    outcomes.push({
      node,
      ownCopies: own.size,
      ownBackS,
      othersStartedWhileCutOff: startsWhileCutOff
        .filter((e) => !own.has(e.workload.allocId))
        .map((e) => e.workload.allocId),
    });
  });
  return outcomes;
}
