// `npm run demo`: a closed mesh (`meshctl mesh init`, one join token) of five agents as separate processes on
// loopback, joined through the first one's address; a job signed with the operator key and submitted on one
// agent is placed by all of them and run by the agents it lands on (exec driver: plain processes, so the demo
// needs no Docker). Ctrl-C stops the job and the agents cleanly. `--exit` does so after printing (used by the
// test that keeps this demo true).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// The mesh: its key and the operator key, and the one token every device is flashed with.
const meshDir = join(work, 'mesh');
const operatorKey = join(meshDir, 'operator.key');
execFileSync(process.execPath, [meshctl, 'mesh', 'init', '--dir', meshDir], { stdio: 'ignore' });
const joinToken = execFileSync(process.execPath, [
  meshctl,
  ...['mesh', 'join-token', '--dir', meshDir, '--bootstrap', `/ip4/127.0.0.1/tcp/${basePort}`],
])
  .toString()
  .trim();

const agents = [];
const died = [];
function startAgent(i) {
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
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', log],
    env: { ...process.env, MESH_JOIN_TOKEN: joinToken },
  });
  child.once('exit', (code) => {
    if (!stopping) died.push(`${name} exited with code ${code}; see ${join(work, `${name}.log`)}`);
  });
  agents.push({ name, child, dataDir, api: `http://127.0.0.1:${basePort + 100 + i}` });
  return agents.at(-1);
}

async function api(agent, path) {
  const token = readFileSync(join(agent.dataDir, 'api.token'), 'utf8').trim();
  const res = await fetch(`${agent.api}${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(2_000),
  });
  return res.json();
}

async function until(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died.length > 0) throw new Error(`demo: ${died.join('; ')}`);
    try {
      if (await check()) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`demo: timed out waiting for ${what}; logs are in ${work}`);
}

function meshctlRun(agent, ...args) {
  console.log(`\n$ meshctl --api ${agent.api} ${args.join(' ')}`);
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [meshctl, '--api', agent.api, ...args], {
      stdio: 'inherit',
      env: { ...process.env, MESH_DATA_DIR: agent.dataDir, MESH_OPERATOR_KEY: operatorKey },
    });
    child.on('exit', (code) =>
      code === 0 ? resolveRun() : reject(new Error(`meshctl ${args.join(' ')}: ${code}`)),
    );
  });
}

const JOB = 'demo-worker';
const jobFile = join(work, `${JOB}.yaml`);
writeFileSync(
  jobFile,
  [
    `name: ${JOB}`,
    'count: 3',
    'driver: exec',
    'command: /bin/sh',
    'args: ["-c", "while true; do echo tick from $MYCEL_NODE; sleep 5; done"]',
    'resources: { cpu: 50, memory: 16 }',
  ].join('\n'),
);

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  if (agents[0]?.child.exitCode === null) {
    // Stop the job first and wait until every agent has stopped its copy, so no process outlives the demo.
    await meshctlRun(agents[0], 'job', 'stop', JOB).catch(() => {});
    await until(
      'every copy to stop',
      async () => {
        const views = await Promise.all(agents.map((a) => api(a, `/v1/jobs/${JOB}`)));
        return views.every((v) =>
          (v.allocations ?? []).every((a) => a.state !== 'running' && a.state !== 'starting'),
        );
      },
      20_000,
    ).catch(() => console.error('demo: some copies did not report stopped; check with ps'));
  }
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
  console.log(`closed mesh created in ${meshDir}; every agent starts with the same join token`);
  const first = startAgent(0);
  console.log(`starting ${COUNT} agents on 127.0.0.1 (logs and data in ${work})`);
  await until('the first agent', async () => (await api(first, '/v1/status')).peerId);
  for (let i = 1; i < COUNT; i++) startAgent(i);
  const last = agents.at(-1);
  await until('every agent to see the others alive', async () => {
    const counts = await Promise.all(agents.map(async (a) => (await api(a, '/v1/status')).peers.alive));
    return counts.every((n) => n === COUNT - 1);
  });
  await meshctlRun(last, 'peers');
  await meshctlRun(agents[1], 'job', 'run', jobFile);
  await until('three copies running', async () => {
    const job = await api(last, `/v1/jobs/${JOB}`);
    return job.allocations?.filter((a) => a.state === 'running').length === 3;
  });
  await meshctlRun(last, 'alloc', 'list');
  await meshctlRun(last, 'job', 'status', JOB);
  if (exitAfter) await stopAll(0);
  console.log('\nthe mesh is running; try the meshctl commands above. Ctrl-C stops it.');
} catch (err) {
  console.error(err.message);
  await stopAll(1);
}
