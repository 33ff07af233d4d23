import { sha256 } from '../lib/digest.js';
import { err, ok, type Result } from '../lib/result.js';
import { ByteWriter, decodeAll } from './byte-codec.js';
import { checkChange } from './change-bytes.js';
import { isDocId } from './doc-id.js';
import type { GossipMessage } from './gossip-message.js';

/**
 * Wire format of one gossip message: `version u8 | docId string | epoch varint | count varint | change blob*`.
 * Decoding is the topic validator: it enforces the limits and checks that every change parses as an Automerge
 * change, so garbage is rejected before it reaches the state.
 */
/** The gossipsub topic that carries these messages. */
export const STATE_TOPIC = '/mycel/state/1';
export const GOSSIP_VERSION = 1;
export const MAX_GOSSIP_BYTES = 256 * 1024;
export const MAX_GOSSIP_CHANGES = 64;
const MAX_DOC_ID = 256;

export function encodeGossip(message: GossipMessage): Result<Uint8Array> {
  if (message.changes.length > MAX_GOSSIP_CHANGES)
    return err(`${message.changes.length} changes in one message`);
  const writer = new ByteWriter()
    .u8(GOSSIP_VERSION)
    .string(message.docId)
    .varint(message.epoch)
    .varint(message.changes.length);
  for (const change of message.changes) writer.blob(change);
  if (writer.length > MAX_GOSSIP_BYTES)
    return err(`message of ${writer.length} bytes exceeds ${MAX_GOSSIP_BYTES}`);
  return ok(writer.finish());
}

export function decodeGossip(bytes: Uint8Array): Result<GossipMessage> {
  if (bytes.length > MAX_GOSSIP_BYTES)
    return err(`message of ${bytes.length} bytes exceeds ${MAX_GOSSIP_BYTES}`);
  return decodeAll(bytes, (reader) => {
    const version = reader.u8();
    if (version !== GOSSIP_VERSION) reader.fail(`unknown gossip version ${version}`);
    const docId = reader.string(MAX_DOC_ID);
    if (!isDocId(docId)) return reader.fail(`invalid document id ${JSON.stringify(docId)}`);
    const epoch = reader.varint();
    const count = reader.varint(MAX_GOSSIP_CHANGES);
    if (count === 0) reader.fail('no changes');
    const changes: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const change = reader.blob(MAX_GOSSIP_BYTES).slice();
      const checked = checkChange(change);
      if (!checked.ok) reader.fail(`change ${i} is not an Automerge change: ${checked.error}`);
      changes.push(change);
    }
    return { docId, epoch, changes };
  });
}

/** Content-addressed id for gossipsub's msgIdFn: the same bytes published twice are delivered once. */
export function gossipMessageId(bytes: Uint8Array): Uint8Array {
  return sha256(bytes).subarray(0, 20);
}
