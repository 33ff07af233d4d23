import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real libp2p meshes and Docker on a 2-core machine: fewer, heavier workers beat many.
    maxWorkers: 2,
  },
});
