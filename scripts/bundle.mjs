// One entry file per command plus a few shared chunks, not hundreds of modules: tens of MB less RSS on a device.
// Split so that each command parses only what it runs: `meshctl --version` skips libp2p, the YAML parser and
// Automerge, `meshd --version` skips the agent (issue 22: a 2.4 MB bundle parsed on every call took 0.13 s).
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const CHUNKS = 'dist/chunks';
mkdirSync(CHUNKS, { recursive: true });

const banner = [
  "import { createRequire as __mycelCreateRequire } from 'node:module';",
  "import { fileURLToPath as __mycelFileURLToPath } from 'node:url';",
  "import { dirname as __mycelDirname } from 'node:path';",
  'const require = __mycelCreateRequire(import.meta.url);',
  'const __filename = __mycelFileURLToPath(import.meta.url);',
  'const __dirname = __mycelDirname(__filename);',
  readFileSync(new URL('./node20-polyfills.js', import.meta.url), 'utf8'),
].join('\n');

// Written beside and renamed into place: five test files bundle in beforeAll while other test files already start
// meshd, which could read half a file. One CI run's meshd never logged its API (2026-11-22); this is the one race
// found that explains it.
const replace = (path, write) => {
  const tmp = `${path}.${process.pid}.tmp`;
  write(tmp);
  renameSync(tmp, path);
};

const { outputFiles } = await build({
  entryPoints: { meshd: 'src/cli/meshd.ts', meshctl: 'src/cli/meshctl.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  // Named by content: bundlers running at once write the same bytes to the same names.
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  format: 'esm',
  // Node 20 still runs on devices: syntax is lowered to it here, missing built-ins come from the banner.
  target: 'node20',
  minifySyntax: true,
  legalComments: 'linked',
  banner: { js: banner },
  // ssh2 (through dockerode) probes optional native add-ons inside try/catch; they are not needed.
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
  write: false,
});
// Entry points start with a #! line and stay executable, as esbuild leaves them when it writes.
const executable = (bytes) => bytes[0] === 0x23 && bytes[1] === 0x21;
for (const file of outputFiles)
  replace(file.path, (tmp) =>
    writeFileSync(tmp, file.contents, { mode: executable(file.contents) ? 0o755 : 0o644 }),
  );
// Chunks of earlier builds would ship in the package: only this build's stay.
const current = new Set(outputFiles.filter((f) => f.path.includes('/chunks/')).map((f) => basename(f.path)));
for (const name of readdirSync(CHUNKS)) {
  if (!current.has(name) && !name.endsWith('.tmp')) rmSync(`${CHUNKS}/${name}`, { force: true });
}

// Automerge's slim entry takes its WebAssembly as bytes; the agent's chunk reads this file from the folder above.
replace('dist/automerge.wasm', (tmp) =>
  copyFileSync(require.resolve('@automerge/automerge/automerge.wasm'), tmp),
);
console.log(
  `bundled dist/meshd.mjs, dist/meshctl.mjs, ${CHUNKS}/ (${current.size} files), dist/automerge.wasm`,
);
