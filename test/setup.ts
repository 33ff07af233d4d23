import { loadAutomerge } from '../src/node/automerge-wasm.js';

await loadAutomerge();
