/**
 * Storage and hardware through real agents: meshd settings (--device, --allow-host-path) reach the replicated node
 * records, every agent places a job only where its devices and host paths are, the exec driver runs it there
 * with the volume linked, and a job asking for a device no agent has stays unplaced with that reason.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, expect, test } from 'vitest';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { stateRoutes } from '../../src/node/api/routes/state-routes.js';
import type { NodeInfo } from '../../src/node/api/types.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  meshFormed,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';

const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const a of agents) {
    for (const job of ['reader', 'camera']) await a.state.stopJob(job, true).catch(() => {});
  }
  await new Promise((r) => setTimeout(r, 1_500));
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

function job(lines: string[]): JobSpec {
  const parsed = parseJobFile(lines.join('\n'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

test('a job lands only on the agent with its device and host path, and one asking for a missing device is unplaced', async () => {
  const shared = await mkdtemp(join(tmpdir(), 'mycel-hw-host-'));
  cleanups.push(() => rm(shared, { recursive: true, force: true }));
  const fitted = [{}, { device: ['/dev/zero'], allowHostPath: [shared] }];
  for (const [i, extra] of fitted.entries()) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const joinTo = agents[0] ? [joinAddress(agents[0])] : [];
    const config = testConfig({ dataDir: dir.path, name: `hw${i}`, join: joinTo, driver: 'exec', ...extra });
    agents.push(await startAgent(config, FAST_WORKLOADS));
  }
  const [bare, gateway] = agents as [Agent, Agent];
  await waitFor('both agents to hold both node records and hear each other', () => meshFormed(agents));
  await waitFor('the gateway record with its device and allowed path, on the other agent', () => {
    const record = bare.state.state.nodes().find((n) => n.peerId === gateway.peerId);
    return record?.devices?.includes('/dev/zero') === true && record.hostPaths?.includes(shared) === true;
  });
  expect(bare.state.state.nodes().find((n) => n.peerId === bare.peerId)).not.toHaveProperty('hostPaths');
  // `meshctl node status hw1` reads them back from any agent.
  const api = new ControlApi(stateRoutes(bare), pino({ level: 'silent' }));
  const { port } = await api.listen('127.0.0.1:0', false);
  try {
    const info = (await (await fetch(`http://127.0.0.1:${port}/v1/nodes/hw1`)).json()) as NodeInfo;
    expect(info.devices).toContain('/dev/zero');
    expect(info.hostPaths).toEqual([shared]);
  } finally {
    await api.close();
  }

  await bare.state.submitJob(
    job([
      'name: reader',
      'driver: exec',
      'command: /bin/sh',
      `args: ["-c", "head -c 3 /dev/zero | wc -c > data/n; sleep 300"]`,
      'devices: ["/dev/zero"]',
      `volumes: [{ source: ${join(shared, 'reader')}, target: /data }]`,
      'count: 1',
      'resources: { cpu: 100, memory: 32 }',
    ]),
  );
  await waitFor('the reader running on the gateway, as both agents see it', () =>
    agents.every((a) =>
      a.state.state
        .allocations()
        .some((s) => s.job === 'reader' && s.state === 'running' && s.node === gateway.peerId),
    ),
  );
  await waitFor(
    'the reader to write through its volume',
    async () => (await readFile(join(shared, 'reader', 'n'), 'utf8').catch(() => '')).trim() === '3',
  );

  await gateway.state.submitJob(
    job(['name: camera', 'driver: exec', 'command: /bin/true', 'devices: ["/dev/video99"]']),
  );
  for (const a of agents) {
    await waitFor(
      `${a.config.name} to explain why the camera is not placed`,
      () =>
        a.workloads.placement
          .explain('camera')
          ?.unplaced[0]?.reasons.includes('2 nodes filtered: missing device /dev/video99') === true,
    );
  }
  expect(agents.every((a) => a.state.state.allocations().every((s) => s.job !== 'camera'))).toBe(true);
}, 60_000);
