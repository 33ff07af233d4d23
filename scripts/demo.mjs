// `npm run demo`: a closed mesh (`meshctl mesh init`, one join token for every device) of five agents as
// separate processes on loopback, joined through the first one's address. A 3-copy job signed with the operator
// key and submitted on one agent is placed by all of them and run by the agents it lands on: in Docker
// containers when a Docker Engine answers (a tiny image imported from the host's static busybox, as the tests
// do; no registry needed), otherwise as plain processes with the exec driver. The demo then stops one agent
// that runs a copy (SIGTERM: it announces its leave) and shows the mesh start a replacement on another agent at
// once, without waiting out the lost period (4 s of silence here: short liveness timings). Ctrl-C stops the job and the agents and
// removes what they ran; `--exit` does so right after the replacement (used by the test that keeps this true).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUSYBOX, importBusyboxImage } from './busybox-image.mjs';

const root = resolve(import.meta.dirname, '..');
const meshd = join(root, 'dist/meshd.mjs');
const meshctl = join(root, 'dist/meshctl.mjs');
const work = resolve(process.env.MESH_DEMO_DIR ?? join(root, '.mesh-demo'));
const basePort = Number(process.env.MESH_DEMO_PORT ?? 4101);
const dockerSocket = process.env.MESH_DOCKER_SOCKET ?? '/var/run/docker.sock';
const exitAfter = process.argv.includes('--exit');
const COUNT = 5;
const JOB = 'demo-worker';
const IMAGE = 'mycel-demo/busybox:1';
// Short enough that the demo shows a replacement within seconds (a peer is lost after 4 s of silence), long
// enough not to flap on a loaded machine; real devices keep the defaults (suspect 6 s, lost 20 s).
const LIVENESS = ['--heartbeat-interval-ms', '500', '--suspect-after-ms', '2000', '--lost-after-ms', '4000'];

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
let stopping = false;
let stopped; // the agent the demo stops on purpose
let submitted = false; // whether the demo job exists, so stopping it means something
let runtime; // { driver: 'docker', docker } | { driver: 'exec' }

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
    '--driver',
    runtime.driver,
    '--docker-socket',
    dockerSocket,
    ...LIVENESS,
    ...joinAddresses.flatMap((a) => ['--join', a]),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', log],
    env: { ...process.env, MESH_JOIN_TOKEN: joinToken },
    // Out of the terminal's process group: Ctrl-C reaches the demo alone, which stops the job before the agents
    // (a Ctrl-C that reached them too stopped them first, and stopping the job then failed with ECONNREFUSED).
    detached: true,
  });
  const agent = {
    name,
    dataDir,
    child,
    api: `http://127.0.0.1:${basePort + 100 + i}`,
    peerId: undefined,
    token: undefined,
  };
  child.once('exit', (code) => {
    if (stopping || agent === stopped) return;
    // Its last words say why (a port in use, a bad setting): the log file may be gone by the time anyone looks.
    const tail = readFileSync(join(work, `${name}.log`), 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-10);
    died.push(`${name} exited with code ${code}; ${join(work, `${name}.log`)} ends:\n  ${tail.join('\n  ')}`);
  });
  agents.push(agent);
  return agent;
}

const live = () => agents.filter((a) => a !== stopped && a.child.exitCode === null);
const nameOf = (peerId) => agents.find((a) => a.peerId === peerId)?.name ?? peerId;

async function api(agent, path) {
  // Read once, not on every 100 ms poll; an empty read (the agent is still writing the file) is read again.
  agent.token ||= readFileSync(join(agent.dataDir, 'api.token'), 'utf8').trim();
  const res = await fetch(`${agent.api}${path}`, {
    headers: { authorization: `Bearer ${agent.token}` },
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
    await sleep(100);
  }
  throw new Error(`demo: timed out waiting for ${what}; logs are in ${work}`);
}

const shellQuote = (word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

/** What an operator pastes into another shell once, so that the commands the demo prints work there too. */
const meshctlSetup =
  `meshctl() { ${shellQuote(process.execPath)} ${shellQuote(meshctl)} "$@"; }; ` +
  `export MESH_OPERATOR_KEY=${shellQuote(operatorKey)}`;

/** Runs the very line it prints, through a shell, after the setup line: what is printed is what works. */
function meshctlRun(agent, ...args) {
  const line = ['meshctl', '--api', agent.api, '--data-dir', agent.dataDir, ...args]
    .map(shellQuote)
    .join(' ');
  console.log(`\n$ ${line}`);
  return new Promise((resolveRun, reject) => {
    const { MESH_API_TOKEN, MESH_REMOTE_TOKEN, ...env } = process.env;
    const child = spawn('/bin/sh', ['-c', `${meshctlSetup}\n${line}`], { stdio: 'inherit', env });
    child.on('exit', (code) =>
      code === 0 ? resolveRun() : reject(new Error(`meshctl ${args.join(' ')}: ${code}`)),
    );
  });
}

/** Docker when an engine answers and the demo image exists or can be imported; otherwise exec, saying why. */
async function chooseRuntime() {
  const { default: Docker } = await import('dockerode');
  const docker = new Docker({ socketPath: dockerSocket });
  try {
    await Promise.race([
      docker.ping(),
      sleep(2_000).then(() => {
        throw new Error('no answer within 2 s');
      }),
    ]);
  } catch (err) {
    return { driver: 'exec', why: `no Docker Engine answers on ${dockerSocket} (${err.message})` };
  }
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    if (!existsSync(BUSYBOX)) {
      return {
        driver: 'exec',
        why: `a Docker Engine answers, but there is no ${BUSYBOX} to build the demo image from (apt-get install busybox-static)`,
      };
    }
    await importBusyboxImage(docker, IMAGE);
  }
  return { driver: 'docker', docker };
}

function jobSource() {
  // Exits at once on SIGTERM (a shell as PID 1 in a container ignores it otherwise), so stops take no grace.
  const script = "trap 'exit 0' TERM; while true; do echo tick from $MYCEL_NODE; sleep 2 & wait $!; done";
  const runtimeLines =
    runtime.driver === 'docker'
      ? ['driver: docker', `image: ${IMAGE}`, 'command: sh']
      : ['driver: exec', 'command: /bin/sh'];
  return [
    `name: ${JOB}`,
    'count: 3',
    ...runtimeLines,
    `args: ["-c", ${JSON.stringify(script)}]`,
    'resources: { cpu: 50, memory: 16 }',
  ].join('\n');
}

async function runningCopies(observer) {
  const job = await api(observer, `/v1/jobs/${JOB}`);
  return (job.allocations ?? []).filter((a) => a.state === 'running');
}

/** What runs the copy, as its owner recorded it when it started it: a container id or pid:starttime. */
async function runtimeRef(copy) {
  const owner = agents.find((a) => a.peerId === copy.node);
  const detail = await api(owner, `/v1/allocs/${copy.allocId}`);
  const started = (detail.events ?? []).findLast((e) => e.kind === 'started' || e.kind === 'adopted');
  const [driver, ref = '?'] = (started?.reason ?? '').split(' ');
  return driver === 'docker' ? `container ${ref.slice(0, 12)}` : `process ${ref.split(':')[0]}`;
}

async function printCopies(title, copies) {
  console.log(`\n${title}`);
  for (const copy of copies.sort((a, b) => a.allocId.localeCompare(b.allocId))) {
    console.log(`  ${copy.allocId}  on ${nameOf(copy.node)}  (${await runtimeRef(copy)})`);
  }
}

/** What the stopped agent left running: its agent is gone, so nobody else may stop it for it. */
function removeLeftovers() {
  if (!stopped) return;
  if (runtime.driver === 'docker') return;
  const allocDir = join(stopped.dataDir, 'alloc');
  for (const entry of existsSync(allocDir) ? readdirSync(allocDir) : []) {
    try {
      const record = JSON.parse(readFileSync(join(allocDir, entry, 'proc.json'), 'utf8'));
      const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
      // Field 22 (start time), counted after the command name: never signal a recycled pid.
      const startTime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      if (startTime !== record.startTime) continue;
      process.kill(-record.pid, 'SIGKILL');
      console.log(`removed the copy ${stopped.name} left running (process ${record.pid})`);
    } catch {}
  }
}

async function removeContainers() {
  if (runtime?.driver !== 'docker') return;
  for (const agent of agents.filter((a) => a.peerId)) {
    const found = await runtime.docker.listContainers({
      all: true,
      filters: { label: [`mycel.owner=${agent.peerId}`] },
    });
    for (const c of found) {
      await runtime.docker.getContainer(c.Id).remove({ force: true });
      console.log(`removed container ${c.Id.slice(0, 12)} that ${agent.name} left running`);
    }
  }
}

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  const [any] = live();
  if (any && submitted) {
    // Stop the job first and wait until every running agent has stopped its copy, so nothing outlives the demo.
    await meshctlRun(any, 'job', 'stop', JOB).catch(() => {});
    const running = new Set(live().map((a) => a.peerId));
    await until(
      'every copy to stop',
      async () => {
        const views = await Promise.all(live().map((a) => api(a, `/v1/jobs/${JOB}`)));
        return views.every((v) =>
          (v.allocations ?? [])
            .filter((a) => running.has(a.node))
            .every((a) => a.state !== 'running' && a.state !== 'starting'),
        );
      },
      20_000,
    ).catch(() => console.error('demo: some copies did not report stopped; check with docker ps / ps'));
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
  removeLeftovers();
  await removeContainers().catch((err) => console.error(`demo: cannot remove containers: ${err.message}`));
  console.log('all agents stopped cleanly');
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// The agents are in their own process group: a closed terminal must stop them through us.
process.on('SIGHUP', () => void stopAll(0));

try {
  runtime = await chooseRuntime();
  console.log(
    runtime.driver === 'docker'
      ? `driver: docker (a Docker Engine answers on ${dockerSocket}; image ${IMAGE}, imported from ${BUSYBOX})`
      : `driver: exec, plain processes, because ${runtime.why}`,
  );
  console.log(`closed mesh created in ${meshDir}; every agent starts with the same join token`);
  const first = startAgent(0, []);
  console.log(`starting ${COUNT} agents on 127.0.0.1 (logs and data in ${work})`);
  await until('the first agent', async () => (await api(first, '/v1/status')).peerId);
  const bootstrap = (await api(first, '/v1/status')).addresses[0];
  console.log(`bootstrap address: ${bootstrap}`);
  for (let i = 1; i < COUNT; i++) startAgent(i, [bootstrap]);
  const last = agents.at(-1);
  await until('every agent to see the others alive and hold their node records', async () => {
    const views = await Promise.all(agents.map((a) => api(a, '/v1/status')));
    views.forEach((v, i) => {
      agents[i].peerId = v.peerId;
    });
    // Every agent places with the same view from the start, so no copy is placed on a partial view and moved.
    const nodes = await Promise.all(agents.map((a) => api(a, '/v1/nodes')));
    return views.every((v) => v.peers.alive === COUNT - 1) && nodes.every((n) => n.length === COUNT);
  });
  await meshctlRun(last, 'peers');
  const jobFile = join(work, `${JOB}.yaml`);
  writeFileSync(jobFile, jobSource());
  submitted = true;
  // The demo's image is imported into the local engine, in no registry: there is no digest to pin it to.
  await meshctlRun(agents[1], 'job', 'run', '--no-pin', jobFile);
  await until('three copies running', async () => (await runningCopies(last)).length === 3);
  await meshctlRun(last, 'alloc', 'list');
  await meshctlRun(last, 'job', 'status', JOB);
  const before = await runningCopies(last);
  await printCopies('before: three copies, one per agent it was placed on', before);

  // Stop an agent that runs a copy (not the one this demo asks): its device "goes away".
  const victimCopy = before.find((c) => c.node !== last.peerId);
  stopped = agents.find((a) => a.peerId === victimCopy.node);
  console.log(`\nstopping ${stopped.name}, which runs ${victimCopy.allocId}...`);
  await new Promise((done) => {
    stopped.child.once('exit', done);
    stopped.child.kill('SIGTERM');
  });
  const stoppedAt = Date.now();
  console.log(
    `${stopped.name} stopped and announced its leave. Its copy keeps running on its device, but the mesh no longer counts it.`,
  );
  const known = new Set(before.map((c) => c.allocId));
  let replacement;
  await until(
    'a replacement copy to run',
    async () => {
      replacement = (await runningCopies(last)).find(
        (c) => !known.has(c.allocId) && c.node !== stopped.peerId,
      );
      return replacement !== undefined;
    },
    30_000,
  );
  const tookMs = Date.now() - stoppedAt;
  console.log(
    `replacement: ${replacement.allocId} started on ${nameOf(replacement.node)} ` +
      `(replaces ${victimCopy.allocId} of ${stopped.name}) ${(tookMs / 1000).toFixed(1)} s after ${stopped.name} stopped`,
  );
  const survivors = (await runningCopies(last)).filter((c) => c.node !== stopped.peerId);
  await printCopies('after: three copies on the agents the mesh can see', survivors);
  await meshctlRun(
    agents.find((a) => a.peerId === replacement.node),
    'alloc',
    'status',
    replacement.allocId,
  );
  if (exitAfter) await stopAll(0);
  console.log(
    `\nthe mesh is running. To try the meshctl commands above, paste this line into another shell first:\n  ${meshctlSetup}\nCtrl-C stops it all.`,
  );
} catch (err) {
  console.error(err.message);
  if (/another process already uses/.test(err.message))
    console.error(
      `demo: it listens on ports ${basePort}-${basePort + COUNT - 1} and ${basePort + 100}-${basePort + 100 + COUNT - 1}; ` +
        'MESH_DEMO_PORT=<another base port> npm run demo picks others',
    );
  await stopAll(1);
}
