// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are job-file interpolations, not JavaScript.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { x25519PublicKey } from '../../src/crdt/sealed-box.js';
import { signValue } from '../../src/crdt/signature.js';
import { signedTrustChange, TRUST_DOMAIN } from '../../src/crdt/trust.js';
import {
  deriveVar,
  signAddedSeal,
  signVarRemoval,
  signVarVersion,
  VAR_LIMITS,
  varContext,
  versionKey,
} from '../../src/crdt/var-entries.js';
import {
  openDataKey,
  openVarValues,
  sealTo,
  sealVarVersion,
  varValuesProblem,
} from '../../src/crdt/var-seal.js';
import { operatorSealKey } from '../../src/node/placement/var-recipients.js';
import { type TestKey, testKey } from '../support/keys.js';
import { deliver, replica } from './replicas.js';

let operator: TestKey;
let stranger: TestKey;
let deviceA: TestKey;
let deviceB: TestKey;
const secretA = new Uint8Array(randomBytes(32));
const secretB = new Uint8Array(randomBytes(32));
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const rand = (n: number) => new Uint8Array(randomBytes(n));

beforeAll(async () => {
  [operator, stranger, deviceA, deviceB] = await Promise.all([testKey(), testKey(), testKey(), testKey()]);
});

const closed = (node: TestKey) => replica(node.id, 1, { sign: node.sign, operators: [operator.id] });

function version(by: TestKey, n: number, values: Record<string, string>, to: { id: string; pub: string }[]) {
  const unsigned = sealVarVersion({ path: 'app/db', version: n, at: 1000 + n, by: by.id }, values, to, {
    dataKey: rand(32),
    nonce: rand(24),
    ephemeral: () => rand(32),
  });
  return signVarVersion(unsigned, by.id, by.sign);
}

const recipients = () => [
  { id: operator.id, pub: operatorSealKey(operator.id)! },
  { id: deviceA.id, pub: b64(x25519PublicKey(secretA)) },
];

describe('encrypted variables in the replicated state', () => {
  test('an operator-signed version replicates as ciphertext the recipients open and nobody else does', () => {
    const a = closed(deviceA);
    const b = closed(deviceB);
    const v = version(operator, 1, { password: 'hunter2-secret' }, recipients());
    const { publish } = a.addVarEntry('app/db', { kind: 'version', value: v }, 1000);
    deliver(publish, [b]);
    const view = b.variable('app/db').current!;
    expect(view.version.version).toBe(1);
    expect(JSON.stringify(publish.map((m) => Buffer.from(m.changes[0]!).toString('latin1')))).not.toContain(
      'hunter2',
    );
    expect(openVarValues(view, deviceA.id, secretA)).toEqual({
      ok: true,
      value: { password: 'hunter2-secret' },
    });
    expect(openVarValues(view, operator.id, operator.sealSecret).ok).toBe(true);
    const notSealed = openVarValues(view, deviceB.id, secretB);
    expect(notSealed.ok).toBe(false);
    // B's key against A's seal: the wrong recipient cannot open it either.
    const stolen = { ...view, seals: new Map([[deviceB.id, view.seals.get(deviceA.id)!]]) };
    expect(openVarValues(stolen, deviceB.id, secretB).ok).toBe(false);
  });

  test('unsigned, forged or stranger-signed versions and removals are refused and never count', () => {
    const a = closed(deviceA);
    const v = version(stranger, 1, { k: 'v' }, recipients());
    expect(() => a.addVarEntry('app/db', { kind: 'version', value: v }, 1)).toThrow(/not a trusted operator/);
    const forged = { ...version(operator, 1, { k: 'v' }, recipients()), at: 5 };
    expect(() => a.addVarEntry('app/db', { kind: 'version', value: forged }, 1)).toThrow(/forged/);
    const moved = version(operator, 1, { k: 'v' }, recipients());
    expect(() => a.addVarEntry('app/other', { kind: 'version', value: moved }, 1)).toThrow(/names variable/);
    // Written raw by a hostile peer: not in any view.
    const entries = new Map([[versionKey(v), JSON.stringify(v)]]);
    expect(deriveVar('app/db', entries, new Set([operator.id]), new Set()).current).toBeUndefined();
    const open = replica(deviceA.id);
    expect(() =>
      open.addVarEntry('app/db', { kind: 'version', value: version(operator, 1, { k: 'v' }, []) }, 1),
    ).toThrow(/not a trusted operator/);
  });

  test('a holder seals a newly eligible device in; a forged seal is refused; a seal for an old version too', () => {
    const a = closed(deviceA);
    const v1 = version(operator, 1, { password: 'one' }, recipients());
    a.addVarEntry('app/db', { kind: 'version', value: v1 }, 1);
    const view = a.variable('app/db').current!;
    const key = openDataKey(view, deviceA.id, secretA);
    if (!key.ok) throw new Error(key.error);
    const seal = sealTo(key.value, b64(x25519PublicKey(secretB)), rand(32), varContext(view.version));
    const entry = signAddedSeal({ version: view.id, to: deviceB.id, seal, by: deviceA.id }, deviceA.sign);
    expect(() => a.addVarEntry('app/db', { kind: 'seal', value: { ...entry, by: deviceB.id } }, 2)).toThrow(
      /forged/,
    );
    a.addVarEntry('app/db', { kind: 'seal', value: entry }, 2);
    expect(openVarValues(a.variable('app/db').current!, deviceB.id, secretB)).toEqual({
      ok: true,
      value: { password: 'one' },
    });
    a.addVarEntry(
      'app/db',
      { kind: 'version', value: version(operator, 2, { password: 'two' }, recipients()) },
      3,
    );
    expect(openVarValues(a.variable('app/db').current!, deviceB.id, secretB).ok).toBe(false);
    expect(() => a.addVarEntry('app/db', { kind: 'seal', value: entry }, 4)).toThrow(/current version/);
  });

  test('a seal made with a wrong data key does not open the ciphertext', () => {
    const a = closed(deviceA);
    a.addVarEntry('app/db', { kind: 'version', value: version(operator, 1, { p: 'x' }, recipients()) }, 1);
    const view = a.variable('app/db').current!;
    const seal = sealTo(rand(32), b64(x25519PublicKey(secretB)), rand(32), varContext(view.version));
    a.addVarEntry(
      'app/db',
      {
        kind: 'seal',
        value: signAddedSeal({ version: view.id, to: deviceB.id, seal, by: deviceA.id }, deviceA.sign),
      },
      2,
    );
    const opened = openVarValues(a.variable('app/db').current!, deviceB.id, secretB);
    expect(opened.ok).toBe(false);
  });

  test('a revoked device loses its seals from the view, and a removal hides every version up to it', () => {
    const a = closed(deviceA);
    const first = a.addVarEntry(
      'app/db',
      { kind: 'version', value: version(operator, 1, { p: 'x' }, recipients()) },
      1,
    ).publish;
    const revoke = { kind: 'revoke-node' as const, subject: deviceA.id, at: 2 };
    const b = closed(deviceB);
    b.addTrustChange(
      signedTrustChange(revoke, signValue(TRUST_DOMAIN, revoke, operator.id, operator.sign)),
      2,
    );
    deliver(first, [b]);
    expect(b.variable('app/db').current!.seals.has(operator.id)).toBe(true);
    deliver(
      a.addVarEntry('app/db', { kind: 'version', value: version(operator, 2, { p: 'y' }, recipients()) }, 3)
        .publish,
      [b],
    );
    expect(b.variable('app/db').current!.seals.has(deviceA.id)).toBe(false);
    const removal = signVarRemoval(
      { path: 'app/db', upTo: 2, at: 4, by: operator.id },
      operator.id,
      operator.sign,
    );
    b.addVarEntry('app/db', { kind: 'removal', value: removal }, 4);
    expect(b.variable('app/db').current).toBeUndefined();
    expect(b.variable('app/db').highest).toBe(2);
    expect(() =>
      b.addVarEntry('app/db', { kind: 'version', value: version(operator, 2, { p: 'z' }, recipients()) }, 5),
    ).toThrow(/not newer/);
  });

  test('many versions compact to the newest ones, and every replica agrees on the current one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 1000 }), (count, seed) => {
        const a = closed(deviceA);
        const b = closed(deviceB);
        for (let n = 1; n <= count; n++)
          deliver(
            a.addVarEntry(
              'app/db',
              { kind: 'version', value: version(operator, n, { n: String(n + seed) }, recipients()) },
              n,
            ).publish,
            [b],
          );
        const [va, vb] = [a.variable('app/db'), b.variable('app/db')];
        expect(va.current?.id).toBe(vb.current?.id);
        expect(va.current?.version.version).toBe(count);
        expect(va.versions).toBeLessThanOrEqual(8);
        expect(openVarValues(vb.current!, deviceA.id, secretA)).toEqual({
          ok: true,
          value: { n: String(count + seed) },
        });
      }),
      { numRuns: 10 },
    );
  });

  test('values are bounded with errors that say what to fix', () => {
    expect(varValuesProblem({})).toMatch(/at least one/);
    expect(varValuesProblem({ '1x': 'v' })).toMatch(/invalid key name/);
    expect(varValuesProblem({ k: 'a\0b' })).toMatch(/NUL/);
    expect(varValuesProblem({ k: 'x'.repeat(VAR_LIMITS.valueBytes) })).toMatch(/more than the 65536/);
    const many = Object.fromEntries(Array.from({ length: VAR_LIMITS.keys + 1 }, (_, i) => [`k${i}`, 'v']));
    expect(varValuesProblem(many)).toMatch(/at most 64 keys/);
  });
});
