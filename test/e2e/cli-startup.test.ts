/**
 * Issue 22: `meshctl --version` took 0.13 s because every call parsed a 2.4 MB bundle. The entries now load only
 * what every call needs, and each command imports the rest when it runs. What the entries load before their first
 * line runs is their static import graph: this walks it in the bundle and names any heavy package found there.
 * (Times are in `npm run bench:cli-startup`; a shared CI machine is too noisy to assert them.)
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { bundle, MESHCTL, MESHD } from '../support/processes.js';

beforeAll(bundle, 60_000);

/** Every file an ES module entry loads before it runs: its static imports, transitively (not `import()`). */
function staticGraph(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (path: string) => {
    if (files.has(path)) return;
    const text = readFileSync(path, 'utf8');
    files.set(path, text);
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"|^import\s*"(\.[^"]+)"/gm)) {
      visit(join(dirname(path), m[1] ?? m[2] ?? ''));
    }
  };
  visit(entry);
  return files;
}

/** esbuild heads each bundled module with its path: `// node_modules/zod/v4/core/core.js`. */
function packagesIn(files: Map<string, string>): Set<string> {
  const found = new Set<string>();
  for (const text of files.values()) {
    for (const m of text.matchAll(/^\/\/ \S*node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)) found.add(m[1] ?? '');
  }
  return found;
}

const HEAVY = ['zod', 'yaml', 'libp2p', '@libp2p/crypto', '@automerge/automerge', 'pino', 'dockerode'];
const bytes = (files: Map<string, string>) =>
  [...files.values()].reduce((n, t) => n + Buffer.byteLength(t), 0);

test('meshctl --version loads nothing but its entry; other calls load commander and the commands', () => {
  const graph = staticGraph(MESHCTL);
  expect([...packagesIn(graph)]).toEqual([]);
  expect(bytes(graph)).toBeLessThan(20_000);
  const program = readFileSync(MESHCTL, 'utf8').match(/import\("(\.\/chunks\/meshctl-program-[^"]+)"\)/)?.[1];
  expect(program).toBeDefined();
  const commands = staticGraph(join(dirname(MESHCTL), program ?? ''));
  expect([...packagesIn(commands)].filter((p) => HEAVY.includes(p) || p.startsWith('@libp2p/'))).toEqual([]);
  expect(packagesIn(commands)).toContain('commander');
  // 0.2 MB (commander is half of it); the single file was 2.6 MB.
  expect(bytes(commands)).toBeLessThan(400_000);
});

test('meshd loads no agent to print its version, its help or a unit file', () => {
  const graph = staticGraph(MESHD);
  expect([...packagesIn(graph)].filter((p) => HEAVY.includes(p) || p.startsWith('@libp2p/'))).toEqual([]);
  expect(bytes(graph)).toBeLessThan(250_000);
});
