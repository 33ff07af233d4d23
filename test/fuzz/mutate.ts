import { createHash } from 'node:crypto';
import fc from 'fast-check';

/**
 * Structured mutations of valid wire messages: the inputs that get past the first length check and reach the
 * deeper parts of a decoder, which uniformly random bytes almost never do.
 */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; length: number }
  /** A varint that claims a huge length (or count) dropped where a length or count is read. */
  | { kind: 'hugeVarint'; at: number; value: number }
  | { kind: 'splice'; at: number; other: number; from: number };

const position = fc.nat({ max: 1 << 20 });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      at: position,
      value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      at: position,
      length: fc.integer({ min: 1, max: 64 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: position,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicate' as const),
      at: position,
      length: fc.integer({ min: 1, max: 256 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hugeVarint' as const),
      at: position,
      value: fc.oneof(
        fc.constantFrom(0x7fffffff, 0xffffffff, 2 ** 53 - 1, 1 << 30, 4 * 1024 * 1024 + 1),
        fc.nat(),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('splice' as const),
      at: position,
      other: fc.nat(),
      from: position,
    }),
  },
);

function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

/** Applies one mutation; `others` are further valid messages a splice takes its tail from. */
export function mutate(bytes: Uint8Array, m: Mutation, others: readonly Uint8Array[] = []): Uint8Array {
  const n = bytes.length;
  const at = n === 0 ? 0 : m.at % (n + 1);
  const concat = (...parts: ArrayLike<number>[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  };
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[m.at % n]! ^= 1 << m.bit;
      return out;
    }
    case 'set': {
      if (n === 0) return new Uint8Array([m.value]);
      const out = bytes.slice();
      out[m.at % n] = m.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'delete':
      return concat(bytes.subarray(0, at), bytes.subarray(Math.min(n, at + m.length)));
    case 'insert':
      return concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
    case 'duplicate':
      return concat(bytes.subarray(0, at), bytes.subarray(at, at + m.length), bytes.subarray(at));
    case 'hugeVarint':
      return concat(bytes.subarray(0, at), varint(m.value), bytes.subarray(at));
    case 'splice': {
      const other = others.length > 0 ? others[m.other % others.length]! : bytes;
      return concat(bytes.subarray(0, at), other.subarray(other.length === 0 ? 0 : m.from % other.length));
    }
  }
}

/** One to four stacked mutations of a valid message picked from `valid`, or (rarely) plain random bytes. */
export function mutatedFrom(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    {
      weight: 9,
      arbitrary: fc
        .tuple(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }))
        .map(([pick, mutations]) =>
          mutations.reduce((bytes, m) => mutate(bytes, m, valid), valid[pick % valid.length]!),
        ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  );
}

/** Cases per fuzz property: at least 10,000 in the test suite; FUZZ_RUNS raises it for a long hunt. */
export const FUZZ_RUNS = Math.max(10_000, Number(process.env.FUZZ_RUNS ?? 0) || 0);

/**
 * Rewrites an Automerge chunk's length and checksum to fit its (mutated) body, the way a hostile peer would: the
 * checksum then stops nothing and the mutation reaches Automerge's own parser.
 */
export function reseal(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 10) return chunk;
  let at = 9;
  while (at < chunk.length && (chunk[at]! & 0x80) !== 0) at++;
  const body = chunk.subarray(Math.min(at + 1, chunk.length));
  const header = Uint8Array.from([chunk[8]!, ...varint(body.length)]);
  const hash = createHash('sha256').update(header).update(body).digest();
  const out = new Uint8Array(8 + header.length + body.length);
  out.set(chunk.subarray(0, 4), 0);
  out.set(hash.subarray(0, 4), 4);
  out.set(header, 8);
  out.set(body, 8 + header.length);
  return out;
}

/** A mutation inside an Automerge chunk (after its header), resealed so that its checksum holds. */
export function mutatedChunk(chunks: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([pick, mutations]) => {
    const chunk = chunks[pick % chunks.length]!;
    const head = chunk.subarray(0, 10);
    const body = mutations.reduce((bytes, m) => mutate(bytes, m, chunks), chunk.subarray(10));
    const joined = new Uint8Array(head.length + body.length);
    joined.set(head, 0);
    joined.set(body, head.length);
    return reseal(joined);
  });
}

/** Wall-clock allowance of one fuzz property: the CPU budget is seconds, but the shared machine runs slow. */
export const FUZZ_TIMEOUT_MS = 300_000;
