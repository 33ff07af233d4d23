/**
 * bench:revocation: a closed mesh of N in-process agents on loopback TCP (default liveness and anti-entropy
 * settings, relay-only). An operator revokes one device at a time through a random member; for each revocation:
 * the time until every member refuses it (trust derived, no connection left) and until the revoked device holds
 * no connection to any member, then whether it is still cut off 5 s later (it keeps re-dialing). Prints one JSON
 * object. `node dist/build/bench/revocation.js [agents] [revocations]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { signValue } from '../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN } from '../src/crdt/trust.js';
import type { Agent } from '../src/node/agent.js';
import { encodeJoinToken } from '../src/node/membership/join-token.js';
import { progress, sleep, startMesh, waitForMesh, waitUntil } from './mesh.js';
import { rng } from './rng.js';

const AGENTS = Number(process.argv[2] ?? 20);
const REVOCATIONS = Number(process.argv[3] ?? 3);
const CUT_OFF_TIMEOUT_MS = 60_000;

const connected = (a: Agent, peer: string) =>
  a.host.getConnections().some((c) => c.remotePeer.toString() === peer && c.status === 'open');

async function main(): Promise<void> {
  const random = rng(11);
  const root = mkdtempSync(join(tmpdir(), 'mycel-bench-revocation-'));
  const operatorKey = await generateKeyPair('Ed25519');
  const operator = peerIdFromPrivateKey(operatorKey).toString();
  const psk = new Uint8Array(32).map(() => Math.floor(random() * 256));
  const agents: Agent[] = [];
  try {
    await startMesh(agents, AGENTS, root, random, (bootstrap) => ({
      joinToken: encodeJoinToken({ psk, operators: [operator], bootstrap }),
    }));
    const formed = await waitForMesh(agents, 600_000, 500);
    progress(`${AGENTS} agents, every agent holds every node record: ${formed}`);

    const rounds = [];
    const members = new Set(agents);
    for (let r = 0; r < REVOCATIONS; r++) {
      const list = [...members];
      const victim = list[Math.floor(random() * list.length)] as Agent;
      members.delete(victim);
      const issuer = [...members][Math.floor(random() * members.size)] as Agent;
      const linksBefore = [...members].filter((m) => connected(m, victim.peerId)).length;
      const change = { kind: 'revoke-node' as const, subject: victim.peerId, at: Date.now() };
      const signed = signedTrustChange(
        change,
        signValue(TRUST_DOMAIN, change, operator, (b) => operatorKey.sign(b) as Uint8Array),
      );
      const t0 = performance.now();
      await issuer.state.addTrustChange(signed);
      const refusedAt = new Map<Agent, number>();
      const everyMember = await waitUntil(
        () => {
          for (const m of members) {
            if (refusedAt.has(m)) continue;
            if (m.state.state.isRevoked(victim.peerId) && !connected(m, victim.peerId)) {
              refusedAt.set(m, performance.now() - t0);
            }
          }
          return refusedAt.size === members.size;
        },
        CUT_OFF_TIMEOUT_MS,
        5,
      );
      const isolated = await waitUntil(
        () => victim.host.getConnections().length === 0,
        CUT_OFF_TIMEOUT_MS,
        5,
      );
      const cutOffMs = performance.now() - t0;
      await sleep(5_000);
      const stillCutOff = [...members].every((m) => !connected(m, victim.peerId));
      const times = [...refusedAt.values()].sort((a, b) => a - b);
      rounds.push({
        victimLinksBefore: linksBefore,
        everyMemberRefuses: everyMember,
        victimIsolated: isolated,
        allMembersRefuseMs: Math.round(times.at(-1) ?? Number.NaN),
        medianMemberRefusesMs: Math.round(times[Math.floor(times.length / 2)] ?? Number.NaN),
        cutOffEverywhereMs: Math.round(cutOffMs),
        stillCutOffAfter5s: stillCutOff,
      });
      progress(`revocation ${r + 1}: cut off everywhere in ${Math.round(cutOffMs)} ms`);
    }
    process.stdout.write(
      `${JSON.stringify(
        {
          bench: 'revocation',
          agents: AGENTS,
          revocations: REVOCATIONS,
          targetMs: 10_000,
          worstCutOffEverywhereMs: Math.max(...rounds.map((r) => r.cutOffEverywhereMs)),
          rounds,
          loadAverage1m: Math.round(loadavg()[0]! * 10) / 10,
          note: 'all agents share one process and event loop; one agent per device is faster',
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
