import { beforeAll, describe, expect, test } from 'vitest';
import * as A from '../../src/crdt/automerge.js';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { freshDoc } from '../../src/crdt/flat-doc.js';
import { signJobEvent } from '../../src/crdt/job-auth.js';
import type { MeshState } from '../../src/crdt/mesh-state.js';
import { signValue } from '../../src/crdt/signature.js';
import {
  deriveTrust,
  signedTrustChange,
  TRUST_DOMAIN,
  trustEntry,
  type UnsignedTrustChange,
} from '../../src/crdt/trust.js';
import { type TestKey, testKey } from '../support/keys.js';
import { deliver, nodeRecord, replica, spec } from './replicas.js';

let operator: TestKey;
let stranger: TestKey;
let nodeA: TestKey;
let nodeB: TestKey;

beforeAll(async () => {
  [operator, stranger, nodeA, nodeB] = await Promise.all([testKey(), testKey(), testKey(), testKey()]);
});

const closed = (node: TestKey, operators = [operator.id]) =>
  replica(node.id, 1, { sign: node.sign, operators });

function signedSubmit(state: MeshState, name: string, image: string, by: TestKey, now: number) {
  const plan = state.planSubmit(name, spec(image), by.id, now);
  if (!plan.event) throw new Error('nothing to submit');
  return signJobEvent(name, plan.event, by.id, by.sign);
}

function trustChange(change: UnsignedTrustChange, by: TestKey) {
  return signedTrustChange(change, signValue(TRUST_DOMAIN, change, by.id, by.sign));
}

describe('operator-signed jobs in a closed mesh', () => {
  test('a job signed by a trusted operator counts on every replica', () => {
    const a = closed(nodeA);
    const b = closed(nodeB);
    const event = signedSubmit(a, 'web', 'img:1', operator, 1000);
    deliver(a.commitJobEvent('web', event, 1000).publish, [b]);
    expect(b.job('web')?.current.spec).toEqual(spec('img:1'));
    expect(b.jobRejection('web')).toBeUndefined();
  });

  test('an unsigned job written by a compromised device never counts and shows why', () => {
    const hostile = replica(stranger.id); // writes without any check, as a modified agent would
    const b = closed(nodeB);
    deliver(hostile.submitJob('evil', spec('img:evil'), stranger.id, 1000).publish, [b]);
    expect(b.job('evil')).toBeUndefined();
    expect(b.jobs()).toEqual([]);
    expect(b.jobRejection('evil')).toMatchObject({ reason: 'not signed by an operator' });
    expect(b.drainNotes().join('\n')).toContain('not signed by an operator');
  });

  test('an event edited after signing, or signed by an unknown key, is rejected', () => {
    const a = closed(nodeA);
    const b = closed(nodeB);
    const good = signedSubmit(a, 'web', 'img:1', operator, 1000);
    const edited = { ...good, spec: JSON.stringify(spec('img:evil')) };
    expect(() => a.commitJobEvent('web', edited, 1000)).toThrow(/forged signature/);
    const hostile = replica(stranger.id);
    deliver(hostile.commitJobEvent('web', edited, 1000).publish, [b]);
    expect(b.jobRejection('web')?.reason).toBe('forged signature');
    const byStranger = signedSubmit(a, 'api', 'img:1', stranger, 1000);
    expect(() => a.commitJobEvent('api', byStranger, 1000)).toThrow(/not a trusted operator/);
  });

  test('a signed event cannot be moved to another job', () => {
    const a = closed(nodeA);
    const event = signedSubmit(a, 'web', 'img:1', operator, 1000);
    expect(() => a.commitJobEvent('other', event, 1000)).toThrow(/forged signature/);
  });

  test('a forged stop does not stop a signed job', () => {
    const a = closed(nodeA);
    const hostile = replica(stranger.id);
    const b = closed(nodeB);
    const published = a.commitJobEvent('web', signedSubmit(a, 'web', 'img:1', operator, 1000), 1000).publish;
    deliver(published, [b, hostile]);
    deliver(hostile.stopJob('web', stranger.id, 2000).publish, [b]);
    expect(b.job('web')?.desired).toBe('running');
    expect(b.jobRejection('web')?.reason).toBe('not signed by an operator');
  });

  test('operators are added by an operator; a new operator signs jobs; a stranger cannot add itself', () => {
    const a = closed(nodeA);
    const b = closed(nodeB);
    const selfAdded = trustChange({ kind: 'add-operator', subject: stranger.id, at: 500 }, stranger);
    expect(() => a.addTrustChange(selfAdded, 500)).toThrow(/not a trusted operator/);
    const added = trustChange({ kind: 'add-operator', subject: stranger.id, at: 600 }, operator);
    deliver(a.addTrustChange(added, 600).publish, [b]);
    expect([...b.trust().operators].sort()).toEqual([operator.id, stranger.id].sort());
    const event = signedSubmit(a, 'web', 'img:1', stranger, 1000);
    deliver(a.commitJobEvent('web', event, 1000).publish, [b]);
    expect(b.job('web')).toBeDefined();
    const removed = trustChange({ kind: 'remove-operator', subject: stranger.id, at: 2000 }, operator);
    deliver(a.addTrustChange(removed, 2000).publish, [b]);
    expect(b.job('web')).toBeUndefined();
  });
});

describe('trust chain', () => {
  test("a removed operator's changes never count, even backdated to before its removal", async () => {
    const [accomplice, device] = await Promise.all([testKey(), testKey()]);
    const entries = new Map(
      [
        trustChange({ kind: 'add-operator', subject: stranger.id, at: 600 }, operator),
        // Signed with the leaked key after its removal, dated before it.
        trustChange({ kind: 'add-operator', subject: accomplice.id, at: 1000 }, stranger),
        trustChange({ kind: 'revoke-node', subject: device.id, at: 1100 }, stranger),
        trustChange({ kind: 'remove-operator', subject: stranger.id, at: 2000 }, operator),
      ].map(trustEntry),
    );
    const view = deriveTrust([operator.id], entries);
    expect([...view.operators]).toEqual([operator.id]);
    expect(view.rejected.map((r) => r.reason)).toContain(`signer ${stranger.id} was removed as an operator`);
    // Revocations stay: cutting a device off is the safe side.
    expect(view.revoked.has(device.id)).toBe(true);
  });

  test('drain and eligible: the later change wins; a stranger or a removed key drains nothing', async () => {
    const device = await testKey();
    const change = (kind: 'drain-node' | 'eligible-node', at: number, by = operator) =>
      trustChange({ kind, subject: device.id, at }, by);
    const derive = (changes: ReturnType<typeof change>[]) =>
      deriveTrust([operator.id], new Map(changes.map(trustEntry)));
    expect(derive([change('drain-node', 100)]).drained.has(device.id)).toBe(true);
    expect(derive([change('eligible-node', 200), change('drain-node', 100)]).drained.size).toBe(0);
    expect(derive([change('drain-node', 300), change('eligible-node', 200)]).drained.has(device.id)).toBe(
      true,
    );
    const forged = derive([change('drain-node', 100, stranger)]);
    expect(forged.drained.size).toBe(0);
    expect(forged.rejected.map((r) => r.reason)).toEqual([`signer ${stranger.id} is not a trusted operator`]);
    const leaked = derive([
      trustChange({ kind: 'add-operator', subject: stranger.id, at: 10 }, operator),
      trustChange({ kind: 'remove-operator', subject: stranger.id, at: 50 }, operator),
      change('drain-node', 20, stranger),
    ]);
    expect(leaked.drained.size).toBe(0);
  });
});

describe('owned records and revocation', () => {
  test('a node record signed by another key is ignored and noted', () => {
    const honest = closed(nodeA);
    // A device that claims to be node B: its records are signed with its own key, not B's.
    const impostor = replica(nodeB.id, 2, { sign: stranger.sign, operators: [operator.id] });
    const b = closed(nodeB);
    deliver(b.putNodeRecord(nodeRecord(nodeB.id), 500), [honest, impostor]);
    const forged = impostor.putNodeRecord({ ...nodeRecord(nodeB.id), cpu: 1 }, 1000);
    deliver(forged, [honest]);
    expect(honest.nodes().find((n) => n.peerId === nodeB.id)?.cpu).not.toBe(1);
    expect(honest.drainNotes().join('\n')).toContain('forged owner signature');
    // The owner rule: B sees a foreign write to its document and rewrites it at a higher epoch.
    deliver(deliver(forged, [b]), [honest]);
    expect(honest.nodes().map((n) => [n.peerId, n.cpu])).toEqual([[nodeB.id, 4000]]);
  });

  test('a revoked node leaves every view, and a rewrite of the trust document cannot drop the revocation', () => {
    const a = closed(nodeA);
    const b = closed(nodeB);
    deliver(b.putNodeRecord(nodeRecord(nodeB.id), 1000), [a]);
    const revoke = trustChange({ kind: 'revoke-node', subject: nodeB.id, at: 1500 }, operator);
    const published = a.addTrustChange(revoke, 1500).publish;
    expect(a.isRevoked(nodeB.id)).toBe(true);
    expect(a.nodes()).toEqual([]);
    deliver(published, [b]);
    // The revoked device answers with an empty trust document at a higher epoch: every replica keeps the revocation.
    const wipe = freshDoc('ff'.repeat(16), 7, [], 2000);
    const echo = deliver([{ docId: 'trust/mesh', epoch: 7, changes: A.getAllChanges(wipe) }], [a]);
    expect(a.isRevoked(nodeB.id)).toBe(true);
    expect(echo).toHaveLength(1);
    deliver(echo, [b]);
    expect(b.isRevoked(nodeB.id)).toBe(true);
  });
});

test('an owner signature still verifies on an agent whose schema lacks a field the owner wrote', async () => {
  const owner = await testKey();
  const newer = replica(owner.id, 1, { sign: owner.sign });
  const older = replica('observer', 2, { sign: (await testKey()).sign });
  const published = newer.putNodeRecord(nodeRecord(owner.id), 1000);
  // What a newer agent's schema would keep and an older one strips: re-sign with an extra field by hand.
  const record = { ...nodeRecord(owner.id), fromTheFuture: 'x' };
  const sig = signValue('node-entry', { key: 'record', value: record }, owner.id, owner.sign).sig;
  deliver(published, [older]);
  const doc = older.applyGossip(
    {
      docId: `node/${owner.id}`,
      epoch: 1,
      changes: A.getAllChanges(
        freshDoc('ab'.repeat(16), 1, [['record', canonicalJson({ ...record, sig })]], 2000),
      ),
    },
    2000,
  );
  expect(doc.kind).toBe('applied');
  expect(older.nodes().map((n) => n.peerId)).toEqual([owner.id]);
});
