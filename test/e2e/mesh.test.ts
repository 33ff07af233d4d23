import { afterAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import {
  FAST_LIVENESS,
  joinAddress,
  livenessOf,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';

describe('a mesh joined through one bootstrap address', () => {
  const agents: Agent[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  async function launch(name: string, join: string[], dataDir?: string): Promise<Agent> {
    let dir = dataDir;
    if (!dir) {
      const tmp = await tempDir();
      cleanups.push(tmp.cleanup);
      dir = tmp.path;
    }
    const agent = await startAgent(testConfig({ dataDir: dir, name, join }));
    agents.push(agent);
    return agent;
  }

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(cleanups.map((c) => c()));
  });

  test('forms, detects a stopped agent, re-admits it with the same identity, and survives the bootstrap leaving', async () => {
    const first = await launch('a1', []);
    const bootstrap = joinAddress(first);
    const rest = await Promise.all(['a2', 'a3', 'a4', 'a5'].map((name) => launch(name, [bootstrap])));
    const five = [first, ...rest];

    await waitFor('every agent to see 4 alive peers', () =>
      five.every((a) => a.peers().filter((p) => p.liveness === 'alive').length === 4),
    );
    // The four joiners only knew agent 1, yet they find and dial each other (target is 8 peers: all of them).
    await waitFor('joiners to connect to each other directly', () =>
      rest.every((a) =>
        rest.every((b) => a === b || a.peers().some((p) => p.peerId === b.peerId && p.connected)),
      ),
    );

    // Stop a5: every observer reports suspect, then lost, at the configured silences (with scheduling slack).
    const victim = rest[3]!;
    const victimId = victim.peerId;
    const victimDir = victim.config.dataDir;
    const observers = five.filter((a) => a !== victim);
    const transitions = new Map<Agent, { to: string; at: number }[]>(observers.map((a) => [a, []]));
    const unsubscribe = observers.map((a) =>
      a.onLivenessChange((changes) => {
        for (const c of changes)
          if (c.peerId === victimId) transitions.get(a)?.push({ to: c.to, at: Date.now() });
      }),
    );
    const lastHeard = Math.max(
      ...observers.map((a) => a.peers().find((p) => p.peerId === victimId)!.lastSeen),
    );
    await victim.stop();
    await waitFor(
      'every observer to report the victim lost',
      () => [...transitions.values()].every((seen) => seen.some((t) => t.to === 'lost')),
      10_000,
    );
    for (const fn of unsubscribe) fn();
    const slack = 1_500;
    for (const [observer, seen] of transitions) {
      // A heartbeat still in flight when the victim stopped may report it alive once more; what follows counts.
      const afterLastAlive = seen.slice(seen.findLastIndex((t) => t.to === 'alive') + 1);
      expect(
        afterLastAlive.map((t) => t.to),
        observer.config.name,
      ).toEqual(['suspect', 'lost']);
      const [suspect, lost] = afterLastAlive as unknown as [{ at: number }, { at: number }];
      expect(suspect.at - lastHeard).toBeLessThan(
        FAST_LIVENESS.suspectAfterMs + FAST_LIVENESS.heartbeatIntervalMs + slack,
      );
      expect(lost.at - lastHeard).toBeGreaterThanOrEqual(
        FAST_LIVENESS.lostAfterMs - FAST_LIVENESS.heartbeatIntervalMs,
      );
      expect(lost.at - lastHeard).toBeLessThan(
        FAST_LIVENESS.lostAfterMs + FAST_LIVENESS.heartbeatIntervalMs + slack,
      );
    }

    // Restart on the same data dir: same PeerId, alive again everywhere. It knows its peers from disk.
    const revived = await launch('a5', [bootstrap], victimDir);
    expect(revived.peerId).toBe(victimId);
    await waitFor('revived agent alive everywhere', () =>
      observers.every((a) => livenessOf(a, victimId) === 'alive'),
    );

    // Agent 1 (the bootstrap) goes away; a newcomer joins through agent 2 and the rest stay connected.
    await first.stop();
    const a2 = rest[0]!;
    const newcomer = await launch('a6', [joinAddress(a2)]);
    const survivors = [...rest.slice(0, 3), revived];
    await waitFor('newcomer sees the 4 surviving agents alive', () =>
      survivors.every((a) => livenessOf(newcomer, a.peerId) === 'alive'),
    );
    await waitFor('survivors see the newcomer and each other', () =>
      survivors.every(
        (a) =>
          livenessOf(a, newcomer.peerId) === 'alive' &&
          survivors.every((b) => b === a || livenessOf(a, b.peerId) === 'alive'),
      ),
    );
    for (const a of survivors) expect(a.host.getConnections().length).toBeGreaterThan(0);

    // A restarted agent whose only --join address is the dead bootstrap gets back in through the peers it
    // remembered on disk.
    const a4 = rest[2]!;
    const a4Id = a4.peerId;
    await a4.stop();
    const back = await launch('a4', [bootstrap], a4.config.dataDir);
    const others = [newcomer, ...survivors.filter((a) => a !== a4)];
    await waitFor('agent restarted with a dead bootstrap is alive everywhere', () =>
      others.every((a) => livenessOf(a, a4Id) === 'alive' && livenessOf(back, a.peerId) === 'alive'),
    );
  });
});
