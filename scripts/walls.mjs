// The house's walls, checked by `npm run lint`: which wing may import which, which wings stay pure, no import
// loops. A wing is a folder of src/ (src/node/<wing> for the agent's wings); see each wing's README.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Bottom to top: a wing may import only wings before it in this list. */
export const LAYERS = [
  'version',
  'lib',
  'crdt',
  'scheduler',
  'registry-p2p',
  'node/membership',
  'node/setup',
  'node/net',
  'node/liveness',
  'node/drivers',
  'node/state',
  'node/placement',
  'node/workloads',
  'node/services',
  'node/logs',
  'node/events',
  'node/api',
  'node/agent',
  'cli/daemon',
  'cli',
];

/** Wings that do no I/O and read no clock: they may not reach these packages, directly or through lib. */
export const PURE = new Set(['crdt', 'scheduler']);
const IMPURE_PACKAGE =
  /^(node:(fs|net|http|https|child_process|os|dgram|worker_threads|timers)|dockerode|libp2p$|@libp2p\/(tcp|pnet)|pino|prom-client)/;

/** The meshctl side of cli reaches the agent only through the API's public types. */
export const CLI_DOOR = ['node/api/types.ts', 'node/api/client.ts', 'node/api/client-keys.ts'];
const DAEMON = new Set([
  'cli/meshd.ts',
  'cli/meshd-run.ts',
  'cli/clean-stop.ts',
  'cli/install-service.ts',
  'cli/service-unit.ts',
]);

/** `src/node/state/x.ts` → `node/state`; `src/node/agent.ts` → `node/agent`; `src/cli/meshd.ts` → `cli/daemon`. */
export function wingOf(path) {
  const parts = path.split('/');
  if (parts[0] !== 'node') return DAEMON.has(path) ? 'cli/daemon' : parts[0].replace(/\.ts$/, '');
  return parts.length > 2 ? `node/${parts[1]}` : 'node/agent';
}

const importsOf = (text) =>
  [
    ...text.matchAll(
      /^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'|import\('([^']+)'\)/gm,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3]);

/**
 * `files` maps a path under src/ (`node/state/state-service.ts`) to its text. Returns one line per broken wall.
 */
export function checkWalls(files) {
  const problems = [];
  const graph = new Map();
  const external = new Map();
  for (const [path, text] of files) {
    const local = [];
    const packages = [];
    for (const spec of importsOf(text)) {
      if (!spec.startsWith('.')) {
        packages.push(spec);
        continue;
      }
      const target = relative('.', join(dirname(path), spec)).replace(/\.js$/, '.ts');
      if (target.startsWith('..')) {
        if (!target.endsWith('.json')) problems.push(`${path}: imports ${spec}, outside src`);
      } else local.push(target);
    }
    graph.set(path, local);
    external.set(path, packages);
  }
  const rank = (wing) => LAYERS.indexOf(wing);
  for (const [path, targets] of graph) {
    const from = wingOf(path);
    if (rank(from) < 0) problems.push(`${path}: wing ${from} is not in scripts/walls.mjs LAYERS`);
    for (const target of targets) {
      const to = wingOf(target);
      if (to === from) continue;
      if (from === 'cli' && to.startsWith('node/') && !CLI_DOOR.includes(target))
        problems.push(
          `${path}: meshctl imports ${target}; the CLI reaches the agent only through ${CLI_DOOR.join(', ')}`,
        );
      else if (rank(to) >= rank(from))
        problems.push(`${path}: ${from} imports ${target} (${to} is not below ${from})`);
    }
  }
  // Purity is transitive: a pure wing may use lib only where lib itself stays pure.
  const impure = new Map();
  const impurity = (path, seen = new Set()) => {
    if (impure.has(path)) return impure.get(path);
    if (seen.has(path)) return undefined;
    seen.add(path);
    let found = (external.get(path) ?? []).find((p) => IMPURE_PACKAGE.test(p));
    for (const t of graph.get(path) ?? []) {
      if (found !== undefined) break;
      const via = impurity(t, seen);
      if (via !== undefined) found = `${via} via ${t}`;
    }
    impure.set(path, found);
    return found;
  };
  for (const path of graph.keys())
    if (PURE.has(wingOf(path))) {
      const why = impurity(path);
      if (why !== undefined) problems.push(`${path}: ${wingOf(path)} must stay pure but reaches ${why}`);
    }
  for (const loop of importLoops(graph)) problems.push(`import loop: ${loop.join(' -> ')}`);
  return problems;
}

/** Strongly connected components with more than one file (Tarjan). */
function importLoops(graph) {
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const loops = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) loops.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return loops;
}

export function readSources(root) {
  const files = new Map();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
        files.set(relative(root, full), readFileSync(full, 'utf8'));
    }
  };
  walk(root);
  return files;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = checkWalls(readSources(resolve(dirname(process.argv[1]), '../src')));
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`${problems.length} broken wall(s): see scripts/walls.mjs and the wing READMEs`);
    process.exit(1);
  }
  console.log('walls: every wing imports only wings below it; no import loops');
}
