/**
 * The entries of a node document (`node/<peerId>`): its record, its allocation statuses, and the tombstone
 * `retireNode` leaves. With owned records on, an entry counts only with its owner's signature over the stored
 * JSON.
 */
import { z } from 'zod';
import { parseJson } from '../lib/json-text.js';
import { canonicalJson } from './canonical-json.js';
import {
  type AllocStatus,
  allocStatusSchema,
  type NodeRecord,
  nodeRecordSchema,
  parseStored,
} from './records.js';
import { type Sign, signValue, verifyValue } from './signature.js';

export const RECORD_DOMAIN = 'node-entry';
export const RECORD = 'record';
export const RETIRED = 'retired';
export const ALLOC = 'a:';

/** A node document as the views read it. */
export interface NodeEntries {
  readonly record: NodeRecord | undefined;
  readonly allocations: AllocStatus[];
}

/** Whether an entry counts; `undefined` means every entry does (records are not owned). */
export type OwnerCheck =
  | ((key: string, value: NodeRecord | AllocStatus, text: string) => boolean)
  | undefined;

/** The record and statuses of `peerId`'s document that parse, belong to it and (owned records) are signed. */
export function readNodeEntries(
  peerId: string,
  entries: ReadonlyMap<string, string>,
  owned: OwnerCheck,
): NodeEntries {
  let record: NodeRecord | undefined;
  const allocations: AllocStatus[] = [];
  for (const [key, text] of entries) {
    if (key === RECORD) {
      const value = parseStored(nodeRecordSchema, text);
      if (value?.peerId === peerId && (!owned || owned(key, value, text))) record = value;
    } else if (key.startsWith(ALLOC)) {
      const status = parseStored(allocStatusSchema, text);
      if (
        status &&
        status.node === peerId &&
        ALLOC + status.allocId === key &&
        (!owned || owned(key, status, text))
      )
        allocations.push(status);
    }
  }
  return { record, allocations };
}

/** The stored text of one of this node's entries: signed by its identity when records are owned. */
export function ownEntryText(
  key: string,
  value: NodeRecord | AllocStatus,
  self: string,
  sign: Sign | undefined,
): string {
  if (!sign) return canonicalJson(value);
  const { sig } = signValue(RECORD_DOMAIN, { key, value }, self, sign);
  return canonicalJson({ ...value, sig });
}

/**
 * Why an entry does not carry its owner's signature, or undefined when it does. Verified over the stored JSON,
 * not the parsed value: an agent whose schema lacks a field a newer owner wrote must still accept the owner's
 * signature. `text` must already have parsed as JSON.
 */
export function ownerSignatureProblem(
  key: string,
  value: NodeRecord | AllocStatus,
  text: string,
): string | undefined {
  const owner = 'peerId' in value ? value.peerId : value.node;
  const { sig: raw, ...stored } = parseJson(text) as Record<string, unknown>;
  const sig = signatureField.safeParse({ sig: raw }).data?.sig;
  if (sig && verifyValue(RECORD_DOMAIN, { key, value: stored }, { signer: owner, sig })) return undefined;
  return sig ? 'forged owner signature' : 'unsigned record';
}

const signatureField = z.object({ sig: z.string().max(128) });
