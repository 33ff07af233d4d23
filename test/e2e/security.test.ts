import { randomBytes } from 'node:crypto';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, describe, expect, test } from 'vitest';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobEvent } from '../../src/crdt/job-log.js';
import { actorFor, MeshState } from '../../src/crdt/mesh-state.js';
import { signValue } from '../../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN } from '../../src/crdt/trust.js';
import type { Agent } from '../../src/node/agent.js';
import { stateRoutes } from '../../src/node/api/routes/state-routes.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  startAgent,
  type TestMesh,
  tempDir,
  testConfig,
  testMesh,
  waitFor,
} from '../support/agents.js';

/**
 * The zero-trust properties through real agents over loopback: a device without the mesh key cannot connect;
 * a job no operator signed never runs, wherever it was written; a revoked device is cut off by everyone.
 */
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
let mesh: TestMesh;
let stopEvent: JobEvent | undefined;

afterAll(async () => {
  // The revoked device keeps its copy until told: hand every agent the signed stop so no process outlives us.
  if (stopEvent) for (const a of agents) await a.state.commitJob('good', stopEvent).catch(() => {});
  await new Promise((r) => setTimeout(r, 1_500));
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
});

async function start(name: string, joinToken: string | undefined, extra: { join?: string[] } = {}) {
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  const agent = await startAgent(
    testConfig({ dataDir: dir.path, name, joinToken, driver: 'exec', ...extra }),
    FAST_WORKLOADS,
  );
  agents.push(agent);
  return agent;
}

function spec(name: string, count: number) {
  const parsed = parseJobFile(
    [`name: ${name}`, 'driver: exec', 'command: /bin/sleep', 'args: ["300"]', `count: ${count}`].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

function signed(agent: Agent, name: string, action: Parameters<Agent['state']['planJob']>[1]): JobEvent {
  const plan = agent.state.planJob(name, action, mesh.operator.id);
  if (!plan.event) throw new Error(`nothing planned for ${name}`);
  return signJobEvent(name, plan.event, mesh.operator.id, mesh.operator.sign);
}

const connectedTo = (a: Agent, b: Agent) =>
  a.host.getConnections().some((c) => c.remotePeer.toString() === b.peerId);

describe('a closed mesh', () => {
  let a: Agent;
  let b: Agent;
  let c: Agent;

  test('members join with the token alone; a stranger without the key is refused and gets no state', async () => {
    mesh = await testMesh();
    a = await start('a', mesh.joinToken());
    b = await start('b', mesh.joinToken([a]));
    c = await start('c', mesh.joinToken([a]));
    await waitFor(
      'three members that hold each other’s records',
      () => [a, b, c].every((x) => x.state.state.nodes().length === 3),
      30_000,
    );

    const otherMesh = await testMesh();
    const strangerKey = await start('stranger-key', otherMesh.joinToken([a]));
    const strangerOpen = await start('stranger-open', undefined, { join: [joinAddress(a)] });
    for (const stranger of [strangerKey, strangerOpen]) {
      await expect(
        stranger.host.dial(multiaddr(joinAddress(a)), { signal: AbortSignal.timeout(10_000) }),
      ).rejects.toThrow();
      expect(connectedTo(stranger, a)).toBe(false);
      expect(stranger.state.state.nodes().map((n) => n.peerId)).toEqual([stranger.peerId]);
    }
    const members = [a.peerId, b.peerId, c.peerId].sort();
    for (const member of [a, b, c]) {
      expect(member.state.state.nodes().map((n) => n.peerId)).toEqual(members);
    }
    await Promise.all([strangerKey.stop(), strangerOpen.stop()]);
    agents.splice(agents.indexOf(strangerKey), 2);
  });

  test('a job no operator signed never runs, and shows rejected; a signed one runs', async () => {
    // A compromised member writes a job with no signature (a modified agent skips every check).
    const forger = new MeshState({ self: c.peerId, actor: actorFor(c.peerId, randomBytes(8)) });
    c.state.publish(forger.submitJob('evil', spec('evil', 3) as never, c.peerId, Date.now()).publish);
    const good = signed(a, 'good', { kind: 'submit', spec: spec('good', 2) });
    await a.state.commitJob('good', good);
    await waitFor(
      'the signed job running twice, as every member sees it',
      () =>
        [a, b, c].every(
          (x) =>
            x.state.state.allocations().filter((s) => s.job === 'good' && s.state === 'running').length === 2,
        ),
      30_000,
    );
    stopEvent = signed(a, 'good', { kind: 'stop' });
    for (const member of [a, b]) {
      expect(member.state.state.jobRejection('evil')?.reason).toBe('not signed by an operator');
      expect(member.state.state.job('evil')).toBeUndefined();
      expect(member.workloads.placement.allocs('evil')).toEqual([]);
      expect(member.state.state.allocations().filter((s) => s.job === 'evil')).toEqual([]);
    }
    const route = stateRoutes(a).find((r) => r.method === 'GET' && r.path === '/v1/jobs/:name')!;
    const answer = await route.handler({
      params: { name: 'evil' },
      query: new URLSearchParams(),
      body: async () => undefined,
      signal: AbortSignal.timeout(1_000),
    });
    expect(answer).toMatchObject({
      json: { status: 'rejected', rejected: { reason: 'not signed by an operator' } },
    });
  });

  test('a revoked device is cut off by every member and cannot come back', async () => {
    const change = { kind: 'revoke-node' as const, subject: c.peerId, at: Date.now() };
    const revoke = signedTrustChange(
      change,
      signValue(TRUST_DOMAIN, change, mesh.operator.id, mesh.operator.sign),
    );
    await b.state.addTrustChange(revoke);
    await waitFor('no member connected to the revoked device, nor holding its record', () =>
      [a, b].every((x) => !connectedTo(x, c) && !x.state.state.nodes().some((n) => n.peerId === c.peerId)),
    );
    // The revoked device may finish its half of the handshake; the member refuses it right after.
    const dialed = await c.host.dial(multiaddr(joinAddress(a)), { signal: AbortSignal.timeout(10_000) }).then(
      () => 'connected',
      () => 'refused',
    );
    await waitFor(
      `the revoked device's dial (${dialed}) to leave no connection`,
      () => !connectedTo(a, c) && !connectedTo(c, a),
    );
    expect(a.peers().some((p) => p.peerId === c.peerId)).toBe(false);
    expect(a.state.state.allocations().some((s) => s.node === c.peerId)).toBe(false);
  });
});
