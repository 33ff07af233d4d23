import { z } from 'zod';
import { parseJson } from '../lib/json-text.js';
import { parseImageRef } from './image-ref.js';

/** `meshctl image prepull`: one gossip message; every agent whose labels match pulls the image into its store. */
export const PREPULL_TOPIC = 'mycel/image-prepull/1';
export const MAX_PREPULL_BYTES = 2048;

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

export function decodePrepull(
  data: Uint8Array,
): { ok: true; value: PrepullRequest } | { ok: false; error: string } {
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
