import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ContentStore, DigestMismatch } from '../../src/registry-p2p/content-store.js';
import { type Digest, sha256Digest } from '../../src/registry-p2p/digest.js';
import { tempDir } from '../support/agents.js';

const log = pino({ level: 'silent' });

describe('content store', () => {
  it('keeps under its cap under pressure and never evicts what running images pin', async () => {
    const CAP = 20_000;
    await fc.assert(
      fc.asyncProperty(
        // Blobs in arrival order; `pin` marks those an in-use image needs (kept below the cap in total).
        fc.array(
          fc.record({ size: fc.integer({ min: 1, max: 6_000 }), seed: fc.integer(), pin: fc.boolean() }),
          {
            minLength: 1,
            maxLength: 25,
          },
        ),
        fc.boolean(),
        async (blobs, streamed) => {
          const dir = await tempDir('mycel-store-');
          try {
            const pinned = new Set<string>();
            let pinnedBytes = 0;
            const store = await ContentStore.open({
              root: dir.path,
              capBytes: CAP,
              reserveBytes: 0,
              pinned: () => pinned,
              log,
            });
            for (const { size, seed, pin } of blobs) {
              const bytes = new Uint8Array(size).map((_, i) => (seed + i * 31) & 0xff);
              const digest = sha256Digest(bytes);
              if (pin && pinnedBytes + size <= CAP / 2 && !store.has(digest)) {
                pinned.add(digest);
                pinnedBytes += size;
              }
              if (streamed) {
                if (store.has(digest) || store.partial(digest)) continue;
                const writer = await store.begin(digest, size);
                await writer.append(bytes.subarray(0, size >> 1));
                await writer.append(bytes.subarray(size >> 1));
                await store.commit(writer);
              } else {
                await store.putBytes(digest, bytes);
              }
              expect(store.usedBytes).toBeLessThanOrEqual(CAP);
              expect(store.has(digest)).toBe(true);
              for (const p of pinned) expect(store.has(p as Digest)).toBe(true);
            }
            const reopened = await ContentStore.open({
              root: dir.path,
              capBytes: CAP,
              reserveBytes: 0,
              pinned: () => pinned,
              log,
            });
            for (const p of pinned) expect(reopened.has(p as Digest)).toBe(true);
            expect(reopened.usedBytes).toBeLessThanOrEqual(CAP);
          } finally {
            await dir.cleanup();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('never makes bytes visible under a digest they do not match', async () => {
    const dir = await tempDir('mycel-store-');
    try {
      const store = await ContentStore.open({
        root: dir.path,
        capBytes: 1 << 20,
        reserveBytes: 0,
        pinned: () => new Set(),
        log,
      });
      const good = new TextEncoder().encode('the real layer');
      const digest = sha256Digest(good);
      const writer = await store.begin(digest, good.length);
      await writer.append(new TextEncoder().encode('a forged layer'));
      await expect(store.commit(writer)).rejects.toBeInstanceOf(DigestMismatch);
      expect(store.has(digest)).toBe(false);
      expect(writer.state).toBe('failed');
      expect(await readdir(join(dir.path, 'tmp'))).toEqual([]);
      await expect(store.putBytes(digest, new TextEncoder().encode('forged again'))).rejects.toBeInstanceOf(
        DigestMismatch,
      );
      expect(store.has(digest)).toBe(false);
      await store.putBytes(digest, good);
      expect(Buffer.from(await store.readBytes(digest)).toString()).toBe('the real layer');
    } finally {
      await dir.cleanup();
    }
  });
});
