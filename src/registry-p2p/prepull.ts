import { z } from 'zod';
import { parseJson } from '../lib/json-text.js';
import type { RateLimit } from '../lib/rate-limiter.js';
import type { Result } from '../lib/result.js';
import { parseImageRef } from './image-ref.js';

/** `meshctl image prepull`: one gossip message; every agent whose labels match pulls the image into its store. */
export const PREPULL_TOPIC = 'mycel/image-prepull/1';
export const MAX_PREPULL_BYTES = 2048;
/** Pre-pull requests per signer: operators send them rarely; more is a flood. */
export const PREPULL_RATE_LIMIT: RateLimit = { perSecond: 1, burst: 10 };

/**
 * The gossip the registry needs: publish to a topic, and subscribe with a size limit, a per-signer rate limit and
 * a decoder that rejects bad input before it is forwarded. The agent's GossipBus is one.
 */
export interface Gossip {
  publish(topic: string, data: Uint8Array): Promise<void>;
  subscribe<T>(
    topic: string,
    handler: {
      maxBytes: number;
      rateLimit: RateLimit;
      decode(data: Uint8Array): Result<T>;
      deliver(from: string, value: T): void;
    },
  ): void;
}

const schema = z
  .object({
    ref: z
      .string()
      .max(512)
      .refine((r) => parseImageRef(r) !== undefined, 'not an image reference'),
    labels: z.record(z.string().max(63), z.string().max(256)).refine((l) => Object.keys(l).length <= 16),
  })
  .strict();
export type PrepullRequest = z.output<typeof schema>;

export function decodePrepull(data: Uint8Array): Result<PrepullRequest> {
  try {
    const parsed = schema.safeParse(parseJson(new TextDecoder('utf-8', { fatal: true }).decode(data)));
    return parsed.success
      ? { ok: true, value: parsed.data }
      : { ok: false, error: parsed.error.issues[0]?.message ?? 'bad' };
  } catch {
    return { ok: false, error: 'not JSON' };
  }
}

export function matchesLabels(
  want: Readonly<Record<string, string>>,
  have: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}
