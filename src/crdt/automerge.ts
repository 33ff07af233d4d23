/**
 * The one place the project imports Automerge. The slim entry needs its WebAssembly handed in: the default
 * entry finds `automerge.wasm` through `__dirname`, which breaks inside an ESM bundle, and the base64 entry
 * costs over 200 MB of RSS. Reading the bytes is I/O, so the shell (`src/node/automerge-wasm.ts`) does it.
 */
import { initializeWasm, isWasmInitialized } from '@automerge/automerge/slim';

export * from '@automerge/automerge/slim';

export async function initAutomerge(wasm: Uint8Array): Promise<void> {
  if (isWasmInitialized()) return;
  await initializeWasm(wasm);
}
