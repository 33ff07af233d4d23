import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { type AllocCommand, signAllocCommand } from '../../src/crdt/alloc-command-auth.js';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import { validateJobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { wsChannel } from '../../src/node/api/ws-channel.js';
import { ExecDriver } from '../../src/node/drivers/exec-driver.js';
import { decodeExecFrame, type ExecRequest, encodeExecFrame } from '../../src/node/logs/alloc-exec-frames.js';
import { writeOperatorKey } from '../../src/node/membership/key-file.js';
import {
  FAST_WORKLOADS,
  startAgent,
  type TestMesh,
  tempDir,
  testConfig,
  testMesh,
  waitFor,
} from '../support/agents.js';
import { testKey } from '../support/keys.js';
import { bundle, meshctl } from '../support/processes.js';

/**
 * `alloc exec` in a closed mesh: the device that runs the copy checks the operator's signature itself (the
 * agent meshctl talks to only relays), over the alloc, the command, a time and a nonce used once. Unsigned,
 * signed by a key that is no operator, altered after signing, too old, or replayed: refused, and the refusal is
 * in the owner's log. Signed by the operator (meshctl --operator-key): run.
 */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
const ownerLog: Record<string, unknown>[] = [];
let mesh: TestMesh;
let url: string;

beforeAll(bundle, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const a of agents) {
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

function captured() {
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const whole = (partial + chunk.toString()).split('\n');
      partial = whole.pop() ?? '';
      for (const line of whole) if (line) ownerLog.push(JSON.parse(line));
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

/** One request straight on the agent's WebSocket, as meshctl would send it; the first answer. */
async function ask(request: ExecRequest): Promise<{ kind: string; code?: unknown; message?: string }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/allocs/${request.allocId}/command`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const channel = wsChannel(ws);
  await channel.write(encodeExecFrame({ kind: 'request', request }));
  const answers: { kind: string; code?: unknown; message?: string }[] = [];
  while (true) {
    const raw = await channel.read({ signal: AbortSignal.timeout(10_000) });
    if (!raw) break;
    const frame = decodeExecFrame(raw);
    if (!frame.ok) throw new Error(frame.error);
    if (frame.value.kind === 'open' || frame.value.kind === 'stdout') continue;
    answers.push(frame.value as { kind: string });
    break;
  }
  channel.abort(new Error('done'));
  return answers[0] ?? { kind: 'none' };
}

test('the owner runs a command only when an operator signed it, once', async () => {
  mesh = await testMesh();
  for (const [name, driver] of [
    ['ca', 'none'],
    ['cb', 'exec'],
  ] as const) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const joinToken = mesh.joinToken(agents.slice(0, 1));
    const env = { ...FAST_WORKLOADS, ...(name === 'cb' ? { log: captured() } : {}) };
    agents.push(await startAgent(testConfig({ dataDir: dir.path, name, driver, joinToken }), env));
  }
  const [a, b] = [agents[0]!, agents[1]!];
  const api = new ControlApi(a.routes(), pino({ level: 'silent' }));
  api.addUpgrades(a.upgrades());
  const { port } = await api.listen('127.0.0.1:0', false);
  cleanups.push(() => api.close());
  url = `http://127.0.0.1:${port}`;
  await waitFor('both node records on both', () => agents.every((x) => x.state.state.nodes().length === 2));
  const checked = validateJobSpec({
    name: 'cx',
    driver: 'exec',
    command: '/bin/sleep',
    args: ['600'],
    count: 1,
    resources: { cpu: 50, memory: 16 },
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
  const plan = a.state.planJob('cx', { kind: 'submit', spec: checked.spec }, mesh.operator.id);
  await a.state.commitJob('cx', signJobEvent('cx', plan.event!, mesh.operator.id, mesh.operator.sign));
  await waitFor(
    'the copy running on b, as a sees it',
    () => a.state.state.allocations().some((s) => s.node === b.peerId && s.state === 'running'),
    30_000,
  );
  const allocId = a.state.state.allocations().find((s) => s.node === b.peerId)!.allocId;

  const command = (over: Partial<AllocCommand> = {}): AllocCommand => ({
    kind: 'exec',
    allocId,
    command: ['sh', '-c', 'exit 4'],
    tty: false,
    at: Date.now(),
    nonce: randomBytes(16).toString('hex'),
    ...over,
  });
  const request = (c: AllocCommand, signer = mesh.operator): ExecRequest => ({
    ...c,
    command: [...c.command],
    stdin: false,
    auth: signAllocCommand(c, signer.id, signer.sign),
  });

  const unsigned = command();
  expect(await ask({ ...unsigned, command: [...unsigned.command], stdin: false })).toMatchObject({
    kind: 'error',
    code: 'forbidden',
    message: expect.stringMatching(/must be signed with an operator key/),
  });
  const stranger = await testKey();
  expect(await ask(request(command(), stranger))).toMatchObject({
    code: 'forbidden',
    message: expect.stringContaining('is not a trusted operator'),
  });
  const altered = request(command());
  expect(await ask({ ...altered, command: ['sh', '-c', 'id'] })).toMatchObject({
    code: 'forbidden',
    message: 'forged signature',
  });
  expect(await ask(request(command({ at: Date.now() - 3_600_000 })))).toMatchObject({
    code: 'forbidden',
    message: expect.stringMatching(/over 5 minutes from this device's clock/),
  });
  const signed = request(command());
  expect(await ask(signed)).toEqual({ kind: 'exit', code: 4 });
  expect(await ask(signed)).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/replay/) });
  // The owner refused, and says so in its own log.
  const refusals = ownerLog.filter((l) => l.audit === 'alloc exec' && typeof l.refused === 'string');
  expect(refusals.length).toBe(5);
  expect(ownerLog).toContainEqual(expect.objectContaining({ audit: 'alloc exec', allocId, exitCode: 4 }));

  // meshctl: without an operator key it signs nothing and sends nothing; with it, the command runs.
  const home = await tempDir();
  cleanups.push(home.cleanup);
  const noKey = await meshctl(['--api', url, 'alloc', 'exec', allocId, '--', 'true'], {
    MESH_HOME: home.path,
  });
  expect(noKey.code).toBe(1);
  expect(noKey.stderr).toMatch(/operator\.key.*--operator-key/);
  const keyFile = join(home.path, 'op.key');
  await writeOperatorKey(keyFile, mesh.operator.key);
  const ok = await meshctl([
    '--api',
    url,
    '--operator-key',
    keyFile,
    'alloc',
    'exec',
    allocId,
    '--',
    'sh',
    '-c',
    'echo hi; exit 5',
  ]);
  expect(ok).toEqual({ code: 5, stdout: 'hi\n', stderr: '' });
  expect(ownerLog).toContainEqual(
    expect.objectContaining({
      audit: 'alloc exec',
      by: mesh.operator.id,
      command: ['sh', '-c', 'echo hi; exit 5'],
      exitCode: 5,
    }),
  );
  const restart = await meshctl(['--api', url, '--operator-key', keyFile, 'alloc', 'restart', allocId]);
  expect(restart).toMatchObject({ code: 0, stdout: `alloc ${allocId} restarted\n` });
}, 120_000);
