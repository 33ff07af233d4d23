/**
 * The simulator's only source of randomness: a seeded PRNG (mulberry32), so one seed is one run. Every random
 * choice in a run draws from streams derived from the seed, never from Math.random.
 */
export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** k distinct elements of `items` (all of them, shuffled, when k ≥ length). */
  sample<T>(items: readonly T[], k: number): T[];
}

export function prng(seed: number): Prng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    between: (lo, hi) => lo + next() * (hi - lo),
    chance: (p) => p > 0 && next() < p,
    sample<T>(items: readonly T[], k: number): T[] {
      const copy = [...items];
      const take = Math.min(k, copy.length);
      // Partial Fisher-Yates: only the first `take` positions are drawn.
      for (let i = 0; i < take; i++) {
        const j = i + int(copy.length - i);
        [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
      }
      return copy.slice(0, take);
    },
  };
}

/** Independent streams per purpose, so adding draws in one part of the model does not reshuffle another. */
export function derive(seed: number, stream: string): Prng {
  let h = (seed >>> 0) ^ 0x9e3779b9;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193);
  return prng(h);
}
