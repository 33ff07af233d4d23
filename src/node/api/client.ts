/**
 * What `meshctl` needs of src/node at run time, besides the wire types (./types.ts): where the API token lives,
 * the control protocol a remote meshctl speaks, join tokens and operator keys (client-side secrets), and the
 * label and log-line parsing the commands share with the agent. The CLI imports src/node through these two
 * modules only.
 */
export { LineSplitter } from '../drivers/line-splitter.js';
export { decodeJoinToken, encodeJoinToken, parsePnetKey, pnetKey } from '../membership/join-token.js';
export { loadOperatorKey, type OperatorKey, operatorKey, writeOperatorKey } from '../membership/key-file.js';
export { parseLabels } from '../setup/config.js';
export { API_TOKEN_FILE } from './api-token.js';
export {
  CONTROL_PROTOCOL,
  type ControlAnswer,
  type ControlRequest,
  MAX_FRAME_BYTES,
} from './control-protocol.js';
