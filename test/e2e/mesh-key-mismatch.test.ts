/**
 * Issue 18: a device flashed with another mesh's join token used to sit alone with 0 peers and log nothing. Two
 * real meshd processes with different mesh keys: the stranger's log warns once (rate-limited) that the handshake
 * with its join address fails, and `meshctl status` shows the last dial error with "mesh key mismatch?".
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { encodeJoinToken } from '../../src/node/membership/join-token.js';
import type { DialError } from '../../src/node/net/peer-dialer.js';
import { tempDir, testMesh, waitFor } from '../support/agents.js';
import { type LocalMeshd, startLocalMeshd } from '../support/local-meshd.js';
import { bundle, exited } from '../support/processes.js';

beforeAll(bundle, 60_000);

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const AGENT_ARGS = ['--driver', 'none', '--registry-listen', 'off'];

async function agent(name: string, token: string): Promise<LocalMeshd> {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const meshd = await startLocalMeshd(join(tmp.path, name), ['--name', name, ...AGENT_ARGS], {
    MESH_JOIN_TOKEN: token,
  });
  cleanups.push(async () => {
    meshd.agent.kill('SIGTERM');
    await exited(meshd.agent);
  });
  return meshd;
}

async function status(meshd: LocalMeshd): Promise<{ peers: { alive: number }; dialErrors: DialError[] }> {
  const result = await meshd.ctl('status', '-o', 'json');
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

test('a device with another mesh’s token: one warning, and status names the join address and the key', async () => {
  const [mine, theirs] = [await testMesh(), await testMesh()];
  const member = await agent('member', mine.joinToken());
  const address = (await status(member)) as unknown as { addresses: string[] };
  const bootstrap = address.addresses[0]?.replace(/\/p2p\/.*$/, '') ?? '';
  expect(bootstrap).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
  const token = (mesh: typeof mine) =>
    encodeJoinToken({ psk: mesh.psk, operators: [mesh.operator.id], bootstrap: [bootstrap] });

  const stranger = await agent('stranger', token(theirs));
  let errors: DialError[] = [];
  await waitFor(
    'three failed dials to the join address',
    async () => {
      errors = (await status(stranger)).dialErrors;
      return (errors.find((e) => e.target === bootstrap)?.failures ?? 0) >= 3;
    },
    30_000,
    () => stranger.agent.output(),
  );
  expect(errors.find((e) => e.target === bootstrap)).toMatchObject({ kind: 'handshake' });
  expect((await status(stranger)).peers.alive).toBe(0);

  const warnings = stranger.agent
    .output()
    .split('\n')
    .filter((line) => line.includes(`cannot connect to ${bootstrap}`));
  expect(warnings).toHaveLength(1);
  expect(JSON.parse(warnings[0] ?? '{}')).toMatchObject({ level: 40, target: bootstrap });
  expect(warnings[0]).toContain('mesh key mismatch?');

  const table = await stranger.ctl('status');
  expect(table.stdout).toMatch(/Last dial errors\nTARGET +FAILURES +LAST +WHY\n/);
  expect(table.stdout).toMatch(
    new RegExp(`${bootstrap} +\\d+ +\\d+s ago +handshake failed.*mesh key mismatch\\?`),
  );

  // The same address with the right key joins, and its status shows no dial errors.
  const friend = await agent('friend', token(mine));
  await waitFor('the friend to hear the member', async () => (await status(friend)).peers.alive >= 1, 30_000);
  expect((await status(friend)).dialErrors).toEqual([]);
  expect((await friend.ctl('status')).stdout).not.toContain('Last dial errors');
  expect(friend.agent.output()).not.toContain('cannot connect to');
}, 90_000);
