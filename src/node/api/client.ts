/**
 * What every `meshctl` command may need of src/node at run time, besides the wire types (./types.ts): where the
 * API token lives, and the label and log-line parsing the commands share with the agent. Kept light (no zod, no
 * libp2p): meshctl loads it on every call. Keys, join tokens and the control protocol are in ./client-keys.ts.
 */
export { LineSplitter } from '../drivers/line-splitter.js';
export { parseLabels } from '../setup/flag-values.js';
export { API_TOKEN_FILE } from './api-token.js';
