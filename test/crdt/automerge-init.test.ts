import { expect, test, vi } from 'vitest';

/** A stand-in WebAssembly loader: counts instantiations, and can be told to fail the next one. */
const loader = vi.hoisted(() => ({ instantiations: 0, ready: false, failNext: false }));

vi.mock('@automerge/automerge/slim', () => ({
  isWasmInitialized: () => loader.ready,
  initializeWasm: async () => {
    loader.instantiations++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (loader.failNext) {
      loader.failNext = false;
      throw new Error('bad wasm');
    }
    loader.ready = true;
  },
}));

test('agents that start together instantiate the WebAssembly once; a failed instantiation can be retried', async () => {
  // The setup file loaded the real module; a fresh copy of ours sees only the stand-in.
  vi.resetModules();
  const { initAutomerge } = await import('../../src/crdt/automerge.js');
  const bytes = new Uint8Array(0);

  loader.failNext = true;
  const failed = await Promise.allSettled([initAutomerge(bytes), initAutomerge(bytes)]);
  expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  expect(loader.instantiations).toBe(1);

  await Promise.all(Array.from({ length: 8 }, () => initAutomerge(bytes)));
  expect(loader.instantiations).toBe(2);
  await initAutomerge(bytes);
  expect(loader.instantiations).toBe(2);
});
