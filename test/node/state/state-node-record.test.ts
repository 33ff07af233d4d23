import fc from 'fast-check';
import { expect, test } from 'vitest';
import { nodeRecordSchema } from '../../../src/crdt/records.js';
import { localNodeRecord, reservedFor } from '../../../src/node/state/local-node-record.js';

test('reserved: 10% of the cpu, and 128 MB or 10% of the memory, whichever is smaller', () => {
  expect(reservedFor({ cpu: 4000, memory: 8192 })).toEqual({ cpu: 400, memory: 128 });
  expect(reservedFor({ cpu: 2000, memory: 512 })).toEqual({ cpu: 200, memory: 51 });
  fc.assert(
    fc.property(fc.nat(1_000_000), fc.nat(10_000_000), (cpu, memory) => {
      const reserved = reservedFor({ cpu, memory });
      expect(reserved.cpu).toBeLessThanOrEqual(cpu);
      expect(reserved.memory).toBeLessThanOrEqual(Math.min(memory, 128));
      expect(Number.isInteger(reserved.cpu) && Number.isInteger(reserved.memory)).toBe(true);
    }),
  );
});

test('the record is valid for the replicated schema and does not depend on the order it was given things in', () => {
  const base = {
    peerId: '12D3KooWexample',
    config: { name: 'gw-1', labels: { zone: 'north' } },
    capacity: { cpu: 4000, memory: 2048 },
    arch: 'arm64',
    os: 'linux',
  };
  const a = localNodeRecord({
    ...base,
    drivers: ['exec', 'docker'],
    addresses: ['/ip4/10.0.0.2/tcp/4001', '/ip4/127.0.0.1/tcp/4001'],
  });
  const b = localNodeRecord({
    ...base,
    drivers: ['docker', 'exec'],
    addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.0.0.2/tcp/4001'],
  });
  expect(nodeRecordSchema.parse(a)).toEqual(a);
  expect(a).toEqual(b);
  expect(a).toMatchObject({ name: 'gw-1', labels: { zone: 'north' }, reserved: { cpu: 400, memory: 128 } });
});

test('a leaving mark is carried when given, absent otherwise, and only a time in ms is accepted', () => {
  const init = {
    peerId: '12D3KooWexample',
    config: { name: 'gw-1', labels: {} },
    capacity: { cpu: 4000, memory: 2048 },
    drivers: ['exec'] as const,
    addresses: [],
    arch: 'arm64',
    os: 'linux',
  };
  const left = localNodeRecord({ ...init, leaving: 1_700_000_000_000 });
  expect(nodeRecordSchema.parse(left).leaving).toBe(1_700_000_000_000);
  expect('leaving' in localNodeRecord(init)).toBe(false);
  expect(nodeRecordSchema.safeParse({ ...left, leaving: -1 }).success).toBe(false);
  expect(nodeRecordSchema.safeParse({ ...left, leaving: 'soon' }).success).toBe(false);
});
