import type { Prng } from './prng.js';

/**
 * One-way link latency. Each connection draws a base latency once (its path); every message on it then adds
 * jitter of up to 10 % of that base. Profiles:
 *
 * - `lan`:    0.2–2 ms, devices on one site's switch.
 * - `wan`:    25–100 ms one way, i.e. 50–200 ms round trip: seed 003's edge WAN.
 * - `edge`:   the default mix: a link is LAN with probability 0.2, otherwise WAN. Peer selection in meshd is not
 *             locality-aware, so most links of a fleet spread over many sites cross the WAN.
 * - `fixed:<ms>` and `uniform:<lo>-<hi>` for experiments.
 */
export interface LatencyModel {
  readonly name: string;
  /** The base one-way latency of a new connection, in ms. */
  linkBase(random: Prng): number;
}

const JITTER = 0.1;

const uniform = (name: string, lo: number, hi: number): LatencyModel => ({
  name,
  linkBase: (random) => random.between(lo, hi),
});

const LAN = uniform('lan', 0.2, 2);
const WAN = uniform('wan', 25, 100);
const LAN_SHARE = 0.2;

export function parseLatency(text: string): LatencyModel {
  if (text === 'lan') return LAN;
  if (text === 'wan') return WAN;
  if (text === 'edge')
    return {
      name: 'edge',
      linkBase: (random) => (random.chance(LAN_SHARE) ? LAN : WAN).linkBase(random),
    };
  const fixed = /^fixed:(\d+(?:\.\d+)?)$/.exec(text);
  if (fixed) {
    const ms = Number(fixed[1]);
    return { name: text, linkBase: () => ms };
  }
  const range = /^uniform:(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text);
  if (range && Number(range[1]) <= Number(range[2])) return uniform(text, Number(range[1]), Number(range[2]));
  throw new RangeError(
    `unknown latency "${text}": use lan, wan, edge, fixed:<ms> or uniform:<lo>-<hi> (one-way, ms)`,
  );
}

/** One message's one-way delay on a link with the given base. */
export function messageDelay(base: number, random: Prng): number {
  return base * (1 + JITTER * random.next());
}
