import { performance } from 'node:perf_hooks';
import { Topology } from '../../sim/netns/topology.js';
import type { SoakFleet } from './fleet.js';
import { increase, parseSyncFigures, type SyncFigures } from './prom.js';

/** Anti-entropy sessions over a stretch of the run, summed over the agents. */
export interface SessionCounts {
  /** Ended in the stretch plus the rise of those running. */
  started: number;
  completed: number;
  failed: number;
  /** Of the failed, those torn down by a timeout. */
  timedOut: number;
  noProgress: number;
  deadline: number;
  busy: number;
  refused: number;
}

export interface RssSample {
  /** Seconds since the soak's clock started. */
  t: number;
  agent: number;
  pid: number;
  kb: number;
}

/** A session open past this long without its deadline ending it is wedged (issue 15). */
export const WEDGED_AFTER_S = 30;

const zero = (): SessionCounts => ({
  started: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  noProgress: 0,
  deadline: 0,
  busy: 0,
  refused: 0,
});

/**
 * Scrapes every running agent's `/metrics` and reads its VmRSS on a fixed period (and on demand at round
 * ends), turning counters into increases per agent life: a restarted agent's counters start again at zero.
 */
export class Sampler {
  readonly rss: RssSample[] = [];
  /** Scrapes that saw a session older than WEDGED_AFTER_S. */
  readonly wedged: { agent: number; t: number; ageS: number }[] = [];
  maxSessionAgeS = 0;
  scrapeFailures = 0;
  readonly #fleet: SoakFleet;
  readonly #t0: number;
  readonly #last = new Map<number, { pid: number; figures: SyncFigures }>();
  #round = zero();
  #total = zero();
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> = Promise.resolve();

  constructor(fleet: SoakFleet, t0: number) {
    this.#fleet = fleet;
    this.#t0 = t0;
  }

  start(everyMs: number): void {
    this.#timer = setInterval(() => void this.sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One pass over the agents; passes never overlap, a caller waits for the one under way. */
  sample(): Promise<void> {
    this.#busy = this.#busy.then(() => this.#pass());
    return this.#busy;
  }

  /** What the sessions did since the last call. */
  takeRound(): SessionCounts {
    const round = this.#round;
    this.#round = zero();
    return round;
  }

  get totals(): SessionCounts {
    return { ...this.#total };
  }

  async #pass(): Promise<void> {
    const t = (performance.now() - this.#t0) / 1000;
    await Promise.all(
      this.#fleet.running().map(async (i) => {
        const pid = this.#fleet.pid(i);
        if (pid === undefined) return;
        const kb = Topology.rssKb(pid);
        if (kb > 0) this.rss.push({ t, agent: i, pid, kb });
        let figures: SyncFigures;
        try {
          figures = parseSyncFigures(await this.#fleet.text(i, 'GET', '/metrics', undefined, 10_000));
        } catch {
          // A killed or restarting agent does not answer: its counts are read at its next answer.
          this.scrapeFailures++;
          return;
        }
        const last = this.#last.get(i);
        this.#add(last?.pid === pid ? last.figures : undefined, figures);
        this.#last.set(i, { pid, figures });
        this.maxSessionAgeS = Math.max(this.maxSessionAgeS, figures.oldestS);
        if (figures.oldestS > WEDGED_AFTER_S) this.wedged.push({ agent: i, t, ageS: figures.oldestS });
      }),
    );
  }

  #add(before: SyncFigures | undefined, after: SyncFigures): void {
    const ended = (f: SyncFigures | undefined, k: string) => f?.ended[k];
    const d = zero();
    for (const outcome of new Set([...Object.keys(after.ended)])) {
      const inc = increase(ended(before, outcome), after.ended[outcome] ?? 0);
      d.started += inc;
      if (outcome === 'synced') d.completed += inc;
      else if (outcome === 'failed') d.failed += inc;
      else if (outcome === 'busy') d.busy += inc;
      else if (outcome === 'refused') d.refused += inc;
    }
    d.started += after.active - (before?.active ?? 0);
    d.noProgress = increase(before?.stalls['no-progress'], after.stalls['no-progress'] ?? 0);
    d.deadline = increase(before?.stalls.deadline, after.stalls.deadline ?? 0);
    d.timedOut = d.noProgress + d.deadline;
    for (const sum of [this.#round, this.#total])
      for (const k of Object.keys(d) as (keyof SessionCounts)[]) sum[k] += d[k];
  }
}
