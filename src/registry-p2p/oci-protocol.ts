import { z } from 'zod';
import { parseJson } from '../lib/json-text.js';
import { parseDigest } from './digest.js';

/**
 * The OCI read API between agents over one libp2p stream per request: a request frame, a response header
 * frame, then (for content) data frames ending with an empty frame. Frames are length-prefixed and bounded.
 */
export const OCI_PROTOCOL = '/mycel/oci/1.0.0';

export const MAX_REQUEST_BYTES = 4096;
export const MAX_HEADER_BYTES = 256 * 1024;
export const DATA_FRAME_BYTES = 128 * 1024;
export const MAX_HAVE_DIGESTS = 64;

const digest = z.string().transform((value, ctx) => {
  const parsed = parseDigest(value);
  if (!parsed) ctx.addIssue({ code: 'custom', message: 'not a sha256 digest' });
  return parsed ?? z.NEVER;
});
const registry = z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/);
const repository = z.string().regex(/^[a-z0-9._/-]{1,255}$/);
/** Where an agent would fetch the blob upstream: a peer asked to fetch on our behalf goes to the same place. */
const upstream = z.object({ registry, repository }).strict();

export const requestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('have'), digests: z.array(digest).max(MAX_HAVE_DIGESTS) }).strict(),
  z
    .object({
      op: z.literal('blob'),
      digest,
      offset: z.number().int().min(0),
      /** Fetch it if you lack it, and stream it as it arrives (the digest's rendezvous owner is asked this). */
      through: upstream.optional(),
    })
    .strict(),
  z.object({ op: z.literal('tag'), registry, repository, tag: z.string().max(128) }).strict(),
  z.object({ op: z.literal('images') }).strict(),
  /** "Do you, or a peer you are directly linked to, hold it?": asked before a fetch-through (blob-fetcher.ts). */
  z.object({ op: z.literal('reach'), digest }).strict(),
]);
export type OciRequest = z.output<typeof requestSchema>;
export type Holding = 'complete' | 'partial';

export type OciResponse =
  | { ok: true; have: Record<string, Holding> }
  | { ok: true; size: number | null; mediaType: string | null }
  | { ok: true; digest: string; mediaType: string }
  | { ok: true; images: ImageHolding[] }
  | { ok: true; reach: boolean }
  | { ok: false; error: string; busy?: boolean };

export interface ImageHolding {
  ref: string;
  digest: string;
  /** Whether every blob the image needs is in the store. */
  complete: boolean;
}

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function decodeJson(bytes: Uint8Array): unknown {
  return parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}
