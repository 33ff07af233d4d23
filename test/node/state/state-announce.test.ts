import { afterEach, expect, test } from 'vitest';
import { Partition, type TestMesh, testMesh } from '../../e2e/state-support.js';
import { joinAddress, waitFor } from '../../support/agents.js';

let mesh: TestMesh;
afterEach(() => mesh.stopAll());

/** Only links to the hub: the spokes never connect to each other. */
class Star extends Partition {
  hub: string | undefined;

  override blocks(a: string, b: string): boolean {
    return this.hub !== undefined && a !== this.hub && b !== this.hub;
  }
}

test("a newcomer's record reaches peers it is not linked to by gossip, not after rounds of anti-entropy", async () => {
  mesh = testMesh();
  // Periodic sync far out: only the sessions that connecting starts run, so what `b` learns of `c` is gossip.
  const state = { syncIntervalMs: 3_600_000, sessionTimeoutMs: 10_000 };
  const star = new Star();
  const hub = await mesh.start('hub', { partition: star, state });
  star.hub = hub.peerId;
  const b = await mesh.start('b', { join: [joinAddress(hub)], partition: star, state });
  await waitFor('b in the mesh', () => hub.state.state.nodes().some((n) => n.peerId === b.peerId));

  const c = await mesh.start('c', { join: [joinAddress(hub)], partition: star, state });
  // `c` wrote its record before it had any peer; the hub gets it in the session their link starts, and `b`,
  // which never links to `c`, only from the announcement `c` gossips once it is in the gossip mesh.
  await waitFor('b holds the record of c', () => b.state.state.nodes().some((n) => n.peerId === c.peerId));
  expect(b.host.getConnections().map((conn) => conn.remotePeer.toString())).not.toContain(c.peerId);
});
