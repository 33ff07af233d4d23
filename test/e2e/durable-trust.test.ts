import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { signValue } from '../../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN } from '../../src/crdt/trust.js';
import type { Agent } from '../../src/node/agent.js';
import { startAgent, tempDir, testConfig, testMesh } from '../support/agents.js';

/**
 * A trust change (here a revocation) refused by the disk is not applied either: the agent that answered "not
 * stored" does not go on to refuse the device and gossip the change. A real agent of a closed mesh, its state
 * directory bound read-only.
 */
const cleanups: (() => Promise<void>)[] = [];
let agent: Agent | undefined;

afterAll(async () => {
  await agent?.stop();
  for (const cleanup of cleanups) await cleanup();
});

test('a revocation that cannot be stored is answered as failed and revokes nothing', async () => {
  const mesh = await testMesh();
  const dir = await tempDir();
  cleanups.push(dir.cleanup);
  agent = await startAgent(testConfig({ dataDir: dir.path, name: 'a', joinToken: mesh.joinToken() }));
  const change = { kind: 'revoke-node' as const, subject: '12D3KooWSomeoneElse', at: Date.now() };
  const revoke = signedTrustChange(
    change,
    signValue(TRUST_DOMAIN, change, mesh.operator.id, mesh.operator.sign),
  );

  const stateDir = join(dir.path, 'state');
  execFileSync('mount', ['--bind', stateDir, stateDir]);
  execFileSync('mount', ['-o', 'remount,bind,ro', stateDir]);
  try {
    await expect(agent.state.addTrustChange(revoke)).rejects.toThrow(/EROFS/);
  } finally {
    execFileSync('umount', [stateDir]);
  }
  expect(agent.state.state.isRevoked(change.subject)).toBe(false);

  expect(await agent.state.addTrustChange(revoke)).toEqual({ outcome: 'added' });
  expect(agent.state.state.isRevoked(change.subject)).toBe(true);
});
