import { afterEach, describe, expect, test } from 'vitest';
import { STATE_TOPIC } from '../../src/node/state/state-service.js';
import { waitFor } from '../support/agents.js';
import {
  converged,
  describeViews,
  jobFile,
  jobsOf,
  seededRandom,
  startAgents,
  type TestMesh,
  testMesh,
} from './state-support.js';

describe('replicated state across a real mesh', () => {
  let mesh: TestMesh;
  afterEach(() => mesh.stopAll());

  test('10 agents, jobs submitted concurrently on 3: identical views and heads everywhere', async () => {
    mesh = testMesh();
    const agents = await startAgents(mesh, 10);
    await waitFor(
      'every agent to know every node',
      () => agents.every((a) => a.state.state.nodes().length === 10),
      20_000,
      () => describeViews(agents),
    );
    const submitters = [agents[1], agents[5], agents[9]].filter((a) => a !== undefined);
    await Promise.all(
      submitters.flatMap((agent, i) => [
        agent.state.submitJob(jobFile(`job-${i}-a`)),
        agent.state.submitJob(jobFile(`job-${i}-b`, ['count: 2'])),
        // The same name everywhere: three concurrent version 1s, resolved by the documented order.
        agent.state.submitJob(jobFile('shared', [`count: ${i + 1}`])),
      ]),
    );
    await waitFor(
      'identical state on all 10 agents',
      () => converged(agents),
      15_000,
      () => describeViews(agents),
    );
    const names = JSON.parse(jobsOf(agents[0] as (typeof agents)[number])).map(
      (j: { name: string }) => j.name,
    );
    expect(names).toEqual(['job-0-a', 'job-0-b', 'job-1-a', 'job-1-b', 'job-2-a', 'job-2-b', 'shared']);
    const shared = agents[3]?.state.state.job('shared');
    expect(shared?.history).toHaveLength(3);
  });

  test('30% of inbound gossip lost on every agent: anti-entropy still converges', async () => {
    mesh = testMesh();
    const agents = await startAgents(mesh, 6);
    const random = seededRandom(42);
    let dropped = 0;
    for (const agent of agents) {
      agent.gossip.dropInbound = (topic) => {
        const drop = random() < 0.3;
        if (drop && topic === STATE_TOPIC) dropped++;
        return drop;
      };
    }
    await waitFor('every agent to know every node', () =>
      agents.every((a) => a.state.state.nodes().length === 6),
    );
    for (let i = 0; i < 12; i++) {
      const agent = agents[i % agents.length];
      await agent?.state.submitJob(jobFile(`lossy-${i}`, [`count: ${i}`]));
    }
    await waitFor(
      'identical state despite the losses',
      () => converged(agents),
      20_000,
      () => describeViews(agents),
    );
    expect(dropped).toBeGreaterThan(0);
    expect(agents[0]?.state.state.jobs()).toHaveLength(12);
  });
});
