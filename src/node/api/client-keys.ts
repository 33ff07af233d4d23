/**
 * What the `meshctl` commands that hold secrets or speak libp2p need of src/node: join tokens and operator keys
 * (client-side secrets), the control protocol a remote meshctl speaks, and the frames of `alloc exec` (signed). Loaded only by those commands; the
 * rest go through ./client.ts.
 */

export {
  dataFrames,
  decodeExecFrame,
  type ExecRequest,
  encodeExecFrame,
  MAX_EXEC_FRAME,
} from '../logs/alloc-exec-frames.js';
export { type FrameChannel, withFirstFrame } from '../logs/frame-channel.js';
export { decodeJoinToken, encodeJoinToken, parsePnetKey, pnetKey } from '../membership/join-token.js';
export { loadOperatorKey, type OperatorKey, operatorKey, writeOperatorKey } from '../membership/key-file.js';
export { PROTOCOL_PREFIX } from '../net/protocol-prefix.js';
export {
  CONTROL_PROTOCOL,
  type ControlAnswer,
  type ControlRequest,
  MAX_FRAME_BYTES,
} from './control-protocol.js';
export { wsChannel } from './ws-channel.js';
