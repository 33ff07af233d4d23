import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { validateJobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { wsChannel } from '../../src/node/api/ws-channel.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { decodeExecFrame, encodeExecFrame } from '../../src/node/logs/alloc-exec-frames.js';
import { FAST_WORKLOADS, joinAddress, startAgent, tempDir, testConfig, waitFor } from '../support/agents.js';
import { DOCKER_SOCKET, dockerWithTestImage, removeByLabel, TEST_IMAGE } from '../support/docker.js';
import { bundle, MESHCTL, meshctl } from '../support/processes.js';

/**
 * `meshctl alloc exec` and `alloc restart` through an agent that runs nothing (`--driver none`): one agent runs
 * an exec-driver copy (a real process), another a docker copy (real Docker Engine). Output, stderr and exit
 * code come back; stdin goes in with -i; the owner logs an audit line; a meshctl killed mid-command ends the
 * command on the owner; a restart starts the copy again without spending its restart budget.
 */
const run = promisify(execFile);
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
const logs = new Map<string, Record<string, unknown>[]>();
let docker: Docker;
let url: string;

beforeAll(async () => {
  await bundle();
  docker = await dockerWithTestImage();
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const a of agents) {
    await removeByLabel(docker, `${LABELS.owner}=${a.peerId}`);
    const driver = new ExecDriver({ owner: a.peerId, dataDir: a.config.dataDir });
    // The agent's own driver, in this process, records the exit of a child it spawned while this one removes
    // the directory: a second pass removes what that write left.
    for (const handle of await driver.list())
      await driver
        .stop(handle.allocId, { graceMs: 200 })
        .catch(() => driver.stop(handle.allocId, { graceMs: 200 }));
    await driver.close();
  }
  for (const c of cleanups.reverse()) await c();
});

/** Each agent's log lines, parsed: the audit lines are asserted on. */
function capture(name: string) {
  const lines: Record<string, unknown>[] = [];
  logs.set(name, lines);
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = partial + chunk.toString();
      const whole = text.split('\n');
      partial = whole.pop() ?? '';
      for (const line of whole) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

const ctl = (...args: string[]) => meshctl(['--api', url, ...args]);

/** meshctl with `input` on its stdin. */
function ctlWithInput(input: string, ...args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [MESHCTL, '--api', url, ...args], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * A TTY session straight on the agent's WebSocket (meshctl -t wants a terminal of its own): the size given at
 * start, then a resize and a line of input; what the terminal shows, and the exit code.
 */
async function ttySession(allocId: string, script: string): Promise<{ shown: string; code: number }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/allocs/${allocId}/command`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const channel = wsChannel(ws);
  const request = {
    kind: 'exec' as const,
    allocId,
    command: ['sh', '-c', script],
    tty: true,
    stdin: true,
    cols: 100,
    rows: 30,
    at: Date.now(),
    nonce: '0123456789abcdef0123',
  };
  await channel.write(encodeExecFrame({ kind: 'request', request }));
  let shown = '';
  let resized = false;
  while (true) {
    const raw = await channel.read({ signal: AbortSignal.timeout(15_000) }).catch((err: unknown) => {
      throw new Error(`${allocId}: ${(err as Error).message}; shown ${JSON.stringify(shown)}`);
    });
    if (!raw) throw new Error(`closed early; shown ${JSON.stringify(shown)}`);
    const frame = decodeExecFrame(raw);
    if (!frame.ok) throw new Error(frame.error);
    const f = frame.value;
    if (f.kind === 'error') throw new Error(f.message);
    if (f.kind === 'stdout') shown += Buffer.from(f.data).toString();
    if (f.kind === 'stderr') throw new Error('a terminal has one output stream');
    if (!resized && shown.includes('ready')) {
      resized = true;
      await channel.write(encodeExecFrame({ kind: 'resize', cols: 90, rows: 20 }));
      await new Promise((r) => setTimeout(r, 300));
      await channel.write(encodeExecFrame({ kind: 'stdin', data: new TextEncoder().encode('hi\r') }));
    }
    if (f.kind === 'exit') {
      channel.abort(new Error('done'));
      return { shown, code: f.code };
    }
  }
}

async function pgrep(pattern: string): Promise<string[]> {
  try {
    return (await run('pgrep', ['-f', pattern])).stdout.trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

test('alloc exec and restart, through an agent that runs neither copy', async () => {
  for (const [name, driver] of [
    ['xa', 'none'],
    ['xb', 'exec'],
    ['xc', 'docker'],
  ] as const) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const join = agents[0] ? [joinAddress(agents[0])] : [];
    const config = testConfig({ dataDir: dir.path, name, join, driver, dockerSocket: DOCKER_SOCKET });
    agents.push(await startAgent(config, { ...FAST_WORKLOADS, log: capture(name) }));
  }
  const [a, b, c] = [agents[0]!, agents[1]!, agents[2]!];
  const api = new ControlApi(a.routes(), pino({ level: 'silent' }));
  api.addUpgrades(a.upgrades());
  const { port } = await api.listen('127.0.0.1:0', false);
  cleanups.push(() => api.close());
  url = `http://127.0.0.1:${port}`;
  await waitFor('the three node records everywhere', () =>
    agents.every((x) => x.state.state.nodes().length === 3 && x.status().peers.alive === 2),
  );
  const common = { count: 1, resources: { cpu: 50, memory: 16 } };
  const spec = (raw: Record<string, unknown>) => {
    const checked = validateJobSpec({ ...raw, ...common });
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    return checked.spec;
  };
  await a.state.submitJob(spec({ name: 'px', driver: 'exec', command: '/bin/sleep', args: ['600'] }));
  await a.state.submitJob(
    spec({ name: 'dx', driver: 'docker', image: TEST_IMAGE, command: 'sleep', args: ['600'] }),
  );
  const running = (job: string, node: Agent) =>
    a.state.state.allocations().find((s) => s.job === job && s.node === node.peerId && s.state === 'running');
  await waitFor(
    'both copies running, as a sees it',
    () => !!running('px', b) && !!running('dx', c),
    60_000,
    () =>
      JSON.stringify([
        a.placement.allocs(),
        (logs.get('xb') ?? []).filter((l) => (l.level as number) >= 40).slice(0, 5),
        a.state.state.jobs().length,
      ]),
  );
  const px = running('px', b)!.allocId;
  const dx = running('dx', c)!.allocId;

  // Output, stderr and the exit code, for both drivers. The exec copy's command runs with its environment
  // and in its directory.
  const script = 'echo out; echo err >&2; echo "id=$MYCEL_ALLOC_ID"; pwd; exit 7';
  const onExec = await ctl('alloc', 'exec', px, '--', 'sh', '-c', script);
  expect(onExec).toEqual({
    code: 7,
    stdout: `out\nid=${px}\n${join(b.config.dataDir, 'alloc', px)}\n`,
    stderr: 'err\n',
  });
  const onDocker = await ctl(
    'alloc',
    'exec',
    dx,
    '--',
    'sh',
    '-c',
    'echo out; echo err >&2; hostname; exit 3',
  );
  expect(onDocker.code).toBe(3);
  expect(onDocker.stderr).toBe('err\n');
  expect(onDocker.stdout).toMatch(/^out\n\S+\n$/);
  expect(await ctl('alloc', 'exec', dx, '--', 'true')).toEqual({ code: 0, stdout: '', stderr: '' });

  // stdin with -i, and not without it.
  const big = `${'x'.repeat(100_000)}\nend\n`;
  const piped = await ctlWithInput(big, 'alloc', 'exec', '-i', px, '--', 'sh', '-c', 'wc -c; exit 0');
  expect(piped).toMatchObject({ code: 0, stdout: `${big.length}\n` });
  expect(await ctlWithInput('hello\n', 'alloc', 'exec', '-i', dx, '--', 'cat')).toEqual({
    code: 0,
    stdout: 'hello\n',
    stderr: '',
  });
  expect(await ctlWithInput('hello\n', 'alloc', 'exec', dx, '--', 'cat')).toMatchObject({
    code: 0,
    stdout: '',
  });

  // A terminal: its size at start and after a resize, keys in, one output stream, the exit code.
  // The test image's busybox stty cannot read a size, so the docker copy shows that it has a terminal.
  const sized = await ttySession(px, 'stty size; echo ready; read line; stty size; echo "got $line"; exit 9');
  expect(sized.code).toBe(9);
  expect(sized.shown).toMatch(/^30 100\r\nready\r\n[\s\S]*20 90\r\ngot hi\r\n$/);
  const inDocker = await ttySession(dx, 'tty; echo ready; read line; echo "got $line"; exit 9');
  expect(inDocker.code).toBe(9);
  expect(inDocker.shown).toMatch(/^\/dev\/pts\/\d+\r\nready\r\n[\s\S]*got hi\r\n$/);

  // Refusals: exit code 125 and a reason.
  const missing = await ctl('alloc', 'exec', 'nope.0.1.abcd', '--', 'true');
  expect(missing.code).toBe(125);
  expect(missing.stderr).toMatch(/no allocation "nope\.0\.1\.abcd"/);
  const notFound = await ctl('alloc', 'exec', px, '--', '/no/such/program');
  expect(notFound.code).toBe(125);
  expect(notFound.stderr).toMatch(/cannot run \/no\/such\/program/);

  // The owner's audit: who, what, how it ended; never the input.
  const audit = (owner: string) => (logs.get(owner) ?? []).filter((l) => l.audit === 'alloc exec');
  expect(audit('xb')).toContainEqual(
    expect.objectContaining({ allocId: px, command: ['sh', '-c', script], exitCode: 7, via: a.peerId }),
  );
  expect(audit('xc')).toContainEqual(expect.objectContaining({ allocId: dx, command: ['cat'], exitCode: 0 }));
  expect(JSON.stringify(logs.get('xb'))).not.toContain('xxxxxxxxxx');
  expect(audit('xa')).toEqual([]);

  // A meshctl killed mid-command: the command ends on the owner, for both drivers.
  for (const [allocId, marker] of [
    [px, 'sleep 3131'],
    [dx, 'sleep 3132'],
  ] as const) {
    const child = spawn(
      process.execPath,
      [MESHCTL, '--api', url, 'alloc', 'exec', allocId, '--', 'sh', '-c', `echo started; ${marker}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(`the command in ${allocId} to start`, () => out === 'started\n');
    await waitFor(`${marker} to run`, async () => (await pgrep(marker)).length > 0);
    child.kill('SIGKILL');
    await waitFor(
      `${marker} to be killed with its client`,
      async () => (await pgrep(marker)).length === 0,
      15_000,
    );
  }
  await waitFor(
    'no session left on the owners',
    () => b.allocExec.sessions === 0 && c.allocExec.sessions === 0,
  );

  // Restart: a new process and a new container, the events say so, and the restart budget is untouched.
  for (const [allocId, owner] of [
    [px, b],
    [dx, c],
  ] as const) {
    const before = owner.workloads.reconciler.status(allocId)!;
    const restarted = await ctl('alloc', 'restart', allocId);
    expect(restarted).toEqual({ code: 0, stdout: `alloc ${allocId} restarted\n`, stderr: '' });
    const after = owner.workloads.reconciler.status(allocId)!;
    expect(after.state).toBe('running');
    expect(after.startedAt).toBeGreaterThan(before.startedAt!);
    expect(after.restarts).toBe(before.restarts);
    expect(owner.allocEvents(allocId).at(-1)).toMatchObject({
      kind: 'restarted',
      reason: expect.stringContaining('by an operator'),
    });
  }
  expect((logs.get('xb') ?? []).filter((l) => l.audit === 'alloc restart')).toContainEqual(
    expect.objectContaining({ allocId: px, outcome: 'restarted' }),
  );

  // The owner's agent stops mid-command: the command is killed there, meshctl ends (125) and says so; the
  // owner gone, the next request says which node cannot be reached.
  const child = spawn(
    process.execPath,
    [MESHCTL, '--api', url, 'alloc', 'exec', px, '--', 'sh', '-c', 'echo started; sleep 3133'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
  await waitFor('the command to start', () => out === 'started\n');
  await b.stop();
  expect(await ended).toBe(125);
  expect(err).toMatch(/the session ended before the command did/);
  expect(await pgrep('sleep 3133')).toEqual([]);
  const gone = await ctl('alloc', 'exec', px, '--', 'true');
  expect(gone.code).toBe(125);
  expect(gone.stderr).toContain(`cannot reach xb (${b.peerId}), the node that runs alloc ${px}`);
}, 180_000);
