import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { demuxFrames, type LogFrame } from '../../../src/node/drivers/docker-log-frames.js';

function encode(frames: { stream: 'stdout' | 'stderr'; data: Uint8Array }[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      const header = Buffer.alloc(8);
      header[0] = f.stream === 'stdout' ? 1 : 2;
      header.writeUInt32BE(f.data.length, 4);
      return [header, Buffer.from(f.data)];
    }),
  );
}

async function* chunks(bytes: Buffer, cuts: number[]): AsyncGenerator<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, bytes.length]) {
    yield bytes.subarray(from, p);
    from = p;
  }
}

describe('demuxFrames', () => {
  it('recovers every frame whatever the chunk boundaries', async () => {
    const frame = fc.record({
      stream: fc.constantFrom('stdout' as const, 'stderr' as const),
      data: fc.uint8Array({ maxLength: 300 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(frame, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        async (frames, cuts) => {
          const out: LogFrame[] = [];
          for await (const f of demuxFrames(chunks(encode(frames), cuts))) out.push(f);
          expect(out.map((f) => ({ stream: f.stream, data: new Uint8Array(f.data) }))).toEqual(
            frames.map((f) => ({ stream: f.stream, data: new Uint8Array(f.data) })),
          );
        },
      ),
    );
  });
});
