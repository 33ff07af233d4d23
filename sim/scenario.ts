/**
 * The scenario vocabulary: at simulated second T, do X. The in-process fleet (sim/fault) and the network
 * namespace mode (sim/netns) run the same files. Node names are n0..n<nodes-1>.
 */

export type Action =
  /** Links between groups go down both ways; nodes in no group keep their links. */
  | { readonly kind: 'partition'; readonly groups: readonly (readonly string[])[] }
  /** Every down, cut or no-dial link back up (latency, bandwidth and loss stay). */
  | { readonly kind: 'heal' }
  /** One direction only: bytes from `from` to `to` are held (TCP retransmits), no new connection either way. */
  | { readonly kind: 'cut'; readonly from: string; readonly to: string }
  /** `from` cannot open connections to `to` (NAT/firewall before `to`); `to` can dial `from`. */
  | { readonly kind: 'no-dial'; readonly from: string; readonly to: string }
  /** The links between the groups go down, then up, each for `periodS`/2, until `untilS` (then healed). */
  | {
      readonly kind: 'flap';
      readonly groups: readonly (readonly string[])[];
      readonly periodS: number;
      readonly untilS: number;
    }
  /** Shape both directions between `a` and `b`; `'*'` for every link. Real-time figures. */
  | {
      readonly kind: 'link';
      readonly a: string;
      readonly b: string;
      readonly latencyMs?: number;
      readonly jitterMs?: number;
      readonly bytesPerSecond?: number;
    }
  /** Fraction of gossip messages lost on receipt, by `node` or by every node. */
  | { readonly kind: 'loss'; readonly fraction: number; readonly node?: string }
  /** Power off (workloads die) and back on, on the same data dir. */
  | { readonly kind: 'crash'; readonly node: string }
  | { readonly kind: 'restart'; readonly node: string }
  /** The device stays up and keeps its workloads; its network is gone until `rejoin`. */
  | { readonly kind: 'isolate'; readonly node: string }
  | { readonly kind: 'rejoin'; readonly node: string }
  | { readonly kind: 'ip-change'; readonly node: string }
  | { readonly kind: 'submit'; readonly job: string; readonly count: number; readonly on: string };

export interface Step {
  /** Simulated seconds after the fleet converged on the initial jobs. */
  readonly at: number;
  readonly do: Action;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly nodes: number;
  /**
   * Simulated seconds per real second. Agent timings are production defaults divided by this (heartbeat 2 s,
   * suspect 6 s, lost 20 s, anti-entropy 30 s); step times are simulated. Link latency and bandwidth are
   * real-time figures and are not scaled.
   */
  readonly scale: number;
  readonly jobs: readonly { readonly name: string; readonly count: number; readonly on: string }[];
  readonly steps: readonly Step[];
  /** Simulated seconds after the last step by which state and placement must have converged. */
  readonly settleS: number;
}

type Defaulted = 'nodes' | 'scale' | 'jobs' | 'settleS';

/**
 * A scenario on the usual fleet unless it says otherwise: six nodes at scale 4 running web (3) and edge (5),
 * 300 simulated seconds to settle. Each scenario file then says only what it is about.
 */
export function defineScenario(
  scenario: Omit<Scenario, Defaulted> & Partial<Pick<Scenario, Defaulted>>,
): Scenario {
  return {
    nodes: 6,
    scale: 4,
    jobs: [
      { name: 'web', count: 3, on: 'n0' },
      { name: 'edge', count: 5, on: 'n2' },
    ],
    settleS: 300,
    ...scenario,
  };
}

/** n<from>..n<to-1>. */
export function range(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `n${from + i}`);
}

/** A flap as the plain steps it stands for. */
export function expandSteps(steps: readonly Step[]): Step[] {
  const out: Step[] = [];
  for (const step of steps) {
    if (step.do.kind !== 'flap') {
      out.push(step);
      continue;
    }
    const { groups, periodS, untilS } = step.do;
    for (let t = step.at, down = true; t < untilS; t += periodS / 2, down = !down)
      out.push({ at: t, do: down ? { kind: 'partition', groups } : { kind: 'heal' } });
    out.push({ at: untilS, do: { kind: 'heal' } });
  }
  return out.sort((x, y) => x.at - y.at);
}
