// One file per entry point: a device loads one module instead of hundreds, which saves tens of MB of RSS.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
mkdirSync('dist', { recursive: true });

const banner = [
  "import { createRequire as __mycelCreateRequire } from 'node:module';",
  "import { fileURLToPath as __mycelFileURLToPath } from 'node:url';",
  "import { dirname as __mycelDirname } from 'node:path';",
  'const require = __mycelCreateRequire(import.meta.url);',
  'const __filename = __mycelFileURLToPath(import.meta.url);',
  'const __dirname = __mycelDirname(__filename);',
].join('\n');

await build({
  entryPoints: { meshd: 'src/cli/meshd.ts', meshctl: 'src/cli/meshctl.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minifySyntax: true,
  legalComments: 'linked',
  banner: { js: banner },
  // ssh2 (through dockerode) probes optional native add-ons inside try/catch; they are not needed.
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
});

// Automerge's slim entry takes its WebAssembly as bytes; the agent reads this file beside itself.
copyFileSync(require.resolve('@automerge/automerge/automerge.wasm'), 'dist/automerge.wasm');
console.log('bundled dist/meshd.mjs, dist/meshctl.mjs, dist/automerge.wasm');
