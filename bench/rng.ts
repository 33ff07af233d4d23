import { prng } from '../sim/scale/prng.js';

/** Deterministic PRNG (the simulator's mulberry32): a benchmark makes the same run every time. */
export function rng(seed: number): () => number {
  return prng(seed).next;
}
