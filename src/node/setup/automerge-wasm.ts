import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initAutomerge } from '../../crdt/automerge.js';

/**
 * The bundle ships `automerge.wasm` beside `meshd.mjs`; the tsc build and tests resolve it from node_modules.
 */
export function locateAutomergeWasm(): string {
  const beside = join(dirname(fileURLToPath(import.meta.url)), 'automerge.wasm');
  if (existsSync(beside)) return beside;
  return fileURLToPath(import.meta.resolve('@automerge/automerge/automerge.wasm'));
}

export async function loadAutomerge(): Promise<void> {
  await initAutomerge(readFileSync(locateAutomergeWasm()));
}
