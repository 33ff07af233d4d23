import { round as r1 } from '../../sim/run-steps.js';
import type { RoundReport } from './round.js';
import type { RssSample } from './sampler.js';

export interface Target {
  target: string;
  pass: boolean;
  measured: unknown;
}

/** The issue compares the 10th minute with the last; a shorter run compares its middle minute instead. */
export function baselineMinute(minutes: number): number {
  return minutes > 10 ? 10 : Math.max(1, Math.floor(minutes / 2));
}

/**
 * Mean VmRSS per agent over two one-minute windows, counting only agents that ran as the same process in both
 * (a restarted agent starts small again, which would hide growth).
 */
export function rssGrowth(samples: readonly RssSample[], minutes: number, endS: number) {
  const base = baselineMinute(minutes);
  const windows = [
    [(base - 1) * 60, base * 60],
    [endS - 60, endS],
  ] as const;
  const means = windows.map(([from, to]) => {
    const byPid = new Map<string, number[]>();
    for (const s of samples)
      if (s.t >= from && s.t < to)
        byPid.set(`${s.agent}:${s.pid}`, [...(byPid.get(`${s.agent}:${s.pid}`) ?? []), s.kb]);
    return new Map([...byPid].map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length]));
  });
  const [first, last] = means as [Map<string, number>, Map<string, number>];
  const same = [...first.keys()].filter((k) => last.has(k));
  const sum = (m: Map<string, number>) => same.reduce((n, k) => n + (m.get(k) ?? 0), 0);
  const perAgent = same.map((k) => ({
    agent: `n${k.split(':')[0]}`,
    fromMb: r1((first.get(k) ?? 0) / 1024),
    toMb: r1((last.get(k) ?? 0) / 1024),
    growthPct: r1((((last.get(k) ?? 0) - (first.get(k) ?? 0)) / (first.get(k) ?? 1)) * 100),
  }));
  const fleetPct = same.length === 0 ? null : r1(((sum(last) - sum(first)) / sum(first)) * 100);
  return {
    windowsS: windows.map(([a, b]) => [r1(a), r1(b)]),
    baselineMinute: base,
    agentsCompared: same.length,
    fleetGrowthPct: fleetPct,
    maxAgentGrowthPct: perAgent.length ? Math.max(...perAgent.map((a) => a.growthPct)) : null,
    perAgent,
  };
}

export function targets(
  rounds: readonly RoundReport[],
  wedged: { count: number; maxSessionAgeS: number },
  rss: ReturnType<typeof rssGrowth>,
  lostJobs: readonly string[],
  acknowledged: number,
): Target[] {
  const converge = rounds.map((r) => r.convergeS);
  const worst = converge.some((c) => c === null) ? null : Math.max(0, ...(converge as number[]));
  const layers = rounds.map((r) => r.layer);
  return [
    {
      target: 'every heal converges within 10 s',
      pass: rounds.length > 0 && worst !== null && worst <= 10,
      measured: {
        worstS: worst,
        notConverged: converge.filter((c) => c === null).length,
        over10s: converge.filter((c) => c === null || c > 10).length,
        heals: rounds.length,
      },
    },
    {
      target: '0 wedged sessions (open > 30 s without progress)',
      pass: wedged.count === 0,
      measured: wedged,
    },
    {
      target: `RSS growth <= 5 % between minute ${rss.baselineMinute} and the last`,
      pass: rss.fleetGrowthPct !== null && rss.fleetGrowthPct <= 5,
      measured: { fleetGrowthPct: rss.fleetGrowthPct, maxAgentGrowthPct: rss.maxAgentGrowthPct },
    },
    {
      target: '0 acknowledged jobs lost',
      pass: lostJobs.length === 0,
      measured: { lost: lostJobs, acknowledged },
    },
    {
      target: 'each round the layer comes from a peer with upstream stopped',
      pass:
        layers.length > 0 && layers.every((l) => l.peerPullS !== null && l.upstreamBytesWhileClosed === 0),
      measured: {
        fromPeers: layers.filter((l) => l.peerPullS !== null).length,
        rounds: layers.length,
        slowestS: Math.max(0, ...layers.map((l) => l.peerPullS ?? 0)),
      },
    },
  ];
}
