import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore, StoreFull } from '../../src/registry-p2p/content-store.js';
import { type Digest, sha256Digest } from '../../src/registry-p2p/digest.js';
import { freeBytes, mountSmallDisk, type SmallDisk, writeStateFile } from '../support/tmpfs.js';

const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;
const RESERVE = 1.5 * MiB;
const CAP = 4 * 1024 * MiB;

let disk: SmallDisk;

beforeAll(async () => {
  disk = await mountSmallDisk('4m');
});

afterEach(async () => {
  await disk.clear();
});

afterAll(async () => {
  await disk?.unmount();
});

function open(reserveBytes: number, pinned: () => ReadonlySet<string> = () => new Set()) {
  return ContentStore.open({ root: join(disk.path, 'registry'), capBytes: CAP, reserveBytes, pinned, log });
}

/** Streams `bytes` in chunks, as a fetch from a source of unknown size does. */
async function stream(store: ContentStore, bytes: Uint8Array, chunk = 64 * 1024): Promise<Digest> {
  const digest = sha256Digest(bytes);
  const writer = await store.begin(digest);
  try {
    for (let at = 0; at < bytes.length; at += chunk) await writer.append(bytes.subarray(at, at + chunk));
    await store.commit(writer);
  } catch (err) {
    await store.abort(writer, err as Error);
    throw err;
  }
  return digest;
}

describe('the content store on a small data dir', () => {
  it('evicts old blobs to keep free space for state, however many arrive', async () => {
    const store = await open(RESERVE);
    const digests: Digest[] = [];
    for (let i = 0; i < 12; i++) {
      digests.push(await stream(store, randomBytes(512 * 1024)));
      expect(await freeBytes(disk.path)).toBeGreaterThanOrEqual(RESERVE - 256 * 1024);
    }
    await writeStateFile(disk.path, MiB);
    expect(store.has(digests.at(-1)!)).toBe(true);
    expect(store.has(digests[0]!)).toBe(false);
  });

  it('refuses a streamed blob it cannot fit beside pinned ones, and leaves no temp file', async () => {
    const pinned = new Set<string>();
    const store = await open(RESERVE, () => pinned);
    let refused: unknown;
    for (let i = 0; i < 12 && !refused; i++) {
      const bytes = randomBytes(512 * 1024);
      pinned.add(sha256Digest(bytes));
      refused = await stream(store, bytes).then(
        () => undefined,
        (err: unknown) => err,
      );
    }
    expect(refused).toBeInstanceOf(StoreFull);
    expect((refused as Error).message).toMatch(
      /no room for blob sha256:[0-9a-f]{64}: the registry store keeps 1\.5 MiB free on .*registry for the agent's state/,
    );
    expect(await readdir(join(disk.path, 'registry', 'tmp'))).toEqual([]);
    await writeStateFile(disk.path, MiB);
  });

  it('restores the reserve when opened on a disk a previous run filled', async () => {
    const before = await open(0);
    for (let i = 0; i < 6; i++) {
      const bytes = randomBytes(512 * 1024);
      await before.putBytes(sha256Digest(bytes), bytes);
    }
    expect(await freeBytes(disk.path)).toBeLessThan(RESERVE);
    const after = await open(RESERVE);
    await after.restoreReserve();
    expect(await freeBytes(disk.path)).toBeGreaterThanOrEqual(RESERVE);
    await writeStateFile(disk.path, MiB);
  });

  it('fails a blob whose last chunk the full disk takes in part, instead of storing it short', async () => {
    const store = await open(0);
    // Leaves 300 KiB: write(2) takes that much of the 700 KiB chunk, returns short, and only the next call
    // would have answered ENOSPC.
    await writeFile(join(disk.path, 'filler'), randomBytes((await freeBytes(disk.path)) - 300 * 1024));
    const bytes = randomBytes(700 * 1024);
    const failure = await stream(store, bytes, bytes.length).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((failure as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC');
    expect(store.has(sha256Digest(bytes))).toBe(false);
  });
});
