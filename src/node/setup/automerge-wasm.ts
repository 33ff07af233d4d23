import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initAutomerge } from '../../crdt/automerge.js';

/**
 * The bundle ships `automerge.wasm` beside `meshd.mjs`, one folder above the chunk this code lands in
 * (dist/chunks/); the tsc build and tests resolve it from node_modules.
 */
export function locateAutomergeWasm(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, dirname(here)]) {
    const path = join(dir, 'automerge.wasm');
    if (existsSync(path)) return path;
  }
  return fileURLToPath(import.meta.resolve('@automerge/automerge/automerge.wasm'));
}

export async function loadAutomerge(): Promise<void> {
  await initAutomerge(readFileSync(locateAutomergeWasm()));
}
