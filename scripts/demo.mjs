// `npm run demo`: five agents as separate processes on loopback, joined through the first one's address.
// Ctrl-C stops them cleanly. `--exit` stops them after printing (used by the test that keeps this demo true).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..');
const meshd = join(root, 'dist/meshd.mjs');
const meshctl = join(root, 'dist/meshctl.mjs');
const work = resolve(process.env.MESH_DEMO_DIR ?? join(root, '.mesh-demo'));
const basePort = Number(process.env.MESH_DEMO_PORT ?? 4101);
const exitAfter = process.argv.includes('--exit');
const COUNT = 5;

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const agents = [];
function startAgent(i, joinAddresses) {
  const name = `edge-${i + 1}`;
  const dataDir = join(work, name);
  mkdirSync(dataDir, { recursive: true });
  const log = openSync(join(work, `${name}.log`), 'w');
  const args = [
    meshd,
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen',
    `/ip4/127.0.0.1/tcp/${basePort + i}`,
    '--api',
    `127.0.0.1:${basePort + 100 + i}`,
    '--label',
    `zone=${i % 2 === 0 ? 'north' : 'south'}`,
    ...joinAddresses.flatMap((a) => ['--join', a]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', log] });
  agents.push({ name, child, api: `http://127.0.0.1:${basePort + 100 + i}` });
  return agents.at(-1);
}

async function api(agent, path) {
  const res = await fetch(`${agent.api}${path}`, { signal: AbortSignal.timeout(2_000) });
  return res.json();
}

async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`demo: timed out waiting for ${what}; logs are in ${work}`);
}

function meshctlRun(agent, ...args) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [meshctl, '--api', agent.api, ...args], { stdio: 'inherit' });
    child.on('exit', (code) =>
      code === 0 ? resolveRun() : reject(new Error(`meshctl ${args.join(' ')}: ${code}`)),
    );
  });
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the agents...');
  await Promise.all(
    agents.map(
      ({ child }) =>
        new Promise((done) => {
          if (child.exitCode !== null) return done();
          child.once('exit', done);
          child.kill('SIGTERM');
        }),
    ),
  );
  console.log('all agents stopped cleanly');
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

try {
  const first = startAgent(0, []);
  console.log(`starting ${COUNT} agents on 127.0.0.1 (logs and data in ${work})`);
  await until('the first agent', async () => (await api(first, '/v1/status')).peerId);
  const bootstrap = (await api(first, '/v1/status')).addresses[0];
  console.log(`bootstrap address: ${bootstrap}`);
  for (let i = 1; i < COUNT; i++) startAgent(i, [bootstrap]);
  const last = agents.at(-1);
  await until('every agent to see the others alive', async () => {
    const counts = await Promise.all(agents.map(async (a) => (await api(a, '/v1/status')).peers.alive));
    return counts.every((n) => n === COUNT - 1);
  });
  console.log(`\n$ meshctl --api ${last.api} peers`);
  await meshctlRun(last, 'peers');
  console.log(`\n$ meshctl --api ${last.api} status`);
  await meshctlRun(last, 'status');
  if (exitAfter) await stopAll(0);
  console.log('\nthe mesh is running; try the meshctl commands above. Ctrl-C stops it.');
} catch (err) {
  console.error(err.message);
  await stopAll(1);
}
