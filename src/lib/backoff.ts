/**
 * Capped exponential backoff with jitter. Pure: the random draw is an argument. Jitter matters at fleet scale:
 * after a site's uplink returns, a thousand devices must not re-dial in the same second.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export function backoffDelay(failures: number, policy: BackoffPolicy, random: number): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  // "Equal jitter": at least half the delay, so backoff still grows.
  return Math.round(exp / 2 + (exp / 2) * random);
}
