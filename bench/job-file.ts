/**
 * Job file validation on hostile shapes, each under the 256 KiB file limit: what one `meshctl job run` can cost
 * the agent's event loop. Prints JSON: the median and minimum milliseconds per parse over several runs.
 *   unknownFields  20,000 unknown top-level fields (issue 16 #7: 5.7 s when this was quadratic)
 *   bigList        a flow list of 120,000 items (refused by the scan before the parser)
 *   blockList      60,000 block list items, under the node budget: the slowest shape the parser still sees
 *   validJob       a realistic valid job, for scale
 */
import { loadavg } from 'node:os';
import { parseJobFile } from '../src/crdt/job-file.js';

const RUNS = 7;

function unknownFields(n: number): string {
  const lines = ['name: web', 'driver: exec', 'command: /bin/true'];
  for (let i = 0; i < n; i++) lines.push(`x${i}: 1`);
  return `${lines.join('\n')}\n`;
}

const CASES: Record<string, string> = {
  unknownFields: unknownFields(20_000),
  bigList: `name: web\ndriver: exec\ncommand: /bin/true\nargs: [${Array(120_000).fill('1').join(',')}]\n`,
  blockList: `name: web\ndriver: exec\ncommand: /bin/true\nargs:\n${'- 1\n'.repeat(60_000)}`,
  validJob: [
    'name: web',
    'driver: docker',
    'image: nginx:1.27',
    'count: 3',
    'env: {A: "1", B: "2"}',
    'ports: [{name: http, host: 8080}]',
    'constraints: [{attribute: arch, operator: "=", value: arm64}]',
    '',
  ].join('\n'),
};

function measure(text: string): { bytes: number; medianMs: number; minMs: number; errors: number } {
  const times: number[] = [];
  let errors = 0;
  parseJobFile(text, 'bench.yaml');
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    const result = parseJobFile(text, 'bench.yaml');
    times.push(performance.now() - start);
    errors = result.ok ? 0 : result.errors.length;
  }
  times.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    bytes: Buffer.byteLength(text),
    medianMs: round(times[RUNS >> 1]!),
    minMs: round(times[0]!),
    errors,
  };
}

const figures = Object.fromEntries(Object.entries(CASES).map(([name, text]) => [name, measure(text)]));
console.log(
  JSON.stringify({ bench: 'job-file', node: process.version, load: loadavg()[0], figures }, null, 2),
);
