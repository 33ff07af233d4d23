/**
 * The one place the project imports Automerge. The slim entry needs its WebAssembly handed in: the default
 * entry finds `automerge.wasm` through `__dirname`, which breaks inside an ESM bundle, and the base64 entry
 * costs over 200 MB of RSS. Reading the bytes is I/O, so the shell (`src/node/setup/automerge-wasm.ts`) does it.
 */
import { initializeWasm, isWasmInitialized } from '@automerge/automerge/slim';

export * from '@automerge/automerge/slim';

let initializing: Promise<void> | undefined;

/**
 * Instantiates the WebAssembly once per thread, however many callers ask at once. Agents started together (the
 * simulator's fleet, tests) each ask; a second instantiation replaces the module under documents made with the
 * first, and the next call into one of them traps ("memory access out of bounds"), after which the module refuses
 * every call ("Module terminated").
 */
export function initAutomerge(wasm: Uint8Array): Promise<void> {
  if (isWasmInitialized()) return Promise.resolve();
  initializing ??= initializeWasm(wasm).catch((err: unknown) => {
    initializing = undefined;
    throw err;
  });
  return initializing;
}
