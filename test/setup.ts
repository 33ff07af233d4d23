import { loadAutomerge } from '../src/node/setup/automerge-wasm.js';

await loadAutomerge();
