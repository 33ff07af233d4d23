import { randomBytes } from 'node:crypto';
import type { Stream } from '@libp2p/interface';
import * as varint from 'uint8-varint';
import { afterEach, describe, expect, it } from 'vitest';
import { FramedStream, FrameTooLarge, NoProgress, OverBudget } from '../../../src/lib/p2p/framed-stream.js';
import { InboundBudget } from '../../../src/lib/p2p/inbound-budget.js';
import { STREAM_WINDOW_BYTES } from '../../../src/node/net/libp2p-host.js';
import { loopbackHosts } from '../../support/hosts.js';

const PROTOCOL = '/mycel-test/frames/1.0.0';
const FRAME = 128 * 1024;
const hosts = loopbackHosts();
afterEach(() => hosts.stopAll());

/** Two real hosts over loopback TCP; `serve` gets each inbound stream, the caller an outbound one. */
async function pair(serve: (stream: Stream) => Promise<void>): Promise<Stream> {
  const a = await hosts.host();
  const b = await hosts.host();
  await b.handle(PROTOCOL, (stream) => void serve(stream).catch(() => {}));
  const connection = await a.dial(b.getMultiaddrs()[0]!);
  return connection.newStream(PROTOCOL);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('FramedStream', () => {
  it('a fast sender waits for a slow reader, which never holds more than its buffer and two windows', async () => {
    const total = 24 * 1024 * 1024;
    let receivedBytes = 0;
    let peakBuffered = 0;
    const done = new Promise<void>((resolve, reject) => {
      void pair(async (stream) => {
        const framed = new FramedStream(stream, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
        try {
          while (true) {
            const frame = await framed.read();
            if (!frame) break;
            receivedBytes += frame.byteLength;
            peakBuffered = Math.max(peakBuffered, framed.bufferedBytes + stream.readBufferLength);
            // A slow SD card: about 25 MB/s.
            await sleep(5);
          }
          resolve();
        } catch (err) {
          reject(err);
        }
      }).then(async (stream) => {
        const framed = new FramedStream(stream, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
        const payload = randomBytes(FRAME);
        for (let sent = 0; sent < total; sent += FRAME) await framed.write(payload);
        await framed.close();
      }, reject);
    });
    await done;
    expect(receivedBytes).toBe(total);
    expect(peakBuffered).toBeLessThanOrEqual(FRAME + 16 + 2 * STREAM_WINDOW_BYTES);
  });

  it('fails a read with no progress once the peer goes silent, and resets the stream', async () => {
    const stream = await pair(async () => {
      // Opens, answers nothing, never closes.
      await sleep(60_000);
    });
    const framed = new FramedStream(stream, { maxFrameBytes: FRAME, idleTimeoutMs: 300 });
    const started = Date.now();
    await expect(framed.read()).rejects.toBeInstanceOf(NoProgress);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(stream.status).not.toBe('open');
  });

  it('keeps a slow but moving transfer alive past the progress deadline', async () => {
    const stream = await pair(async (inbound) => {
      const framed = new FramedStream(inbound, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
      for (let i = 0; i < 8; i++) {
        await framed.write(new Uint8Array([i]));
        await sleep(100);
      }
      await framed.close();
    });
    const framed = new FramedStream(stream, { maxFrameBytes: FRAME, idleTimeoutMs: 400 });
    const frames: number[] = [];
    for (let frame = await framed.read(); frame; frame = await framed.read()) frames.push(frame[0]!);
    expect(frames).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('refuses a frame over the limit without buffering it', async () => {
    const stream = await pair(async (inbound) => {
      const framed = new FramedStream(inbound, { maxFrameBytes: 4 * FRAME, idleTimeoutMs: 10_000 });
      await framed.write(new Uint8Array(2 * FRAME));
    });
    const framed = new FramedStream(stream, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
    await expect(framed.read()).rejects.toBeInstanceOf(FrameTooLarge);
    expect(framed.bufferedBytes).toBeLessThanOrEqual(FRAME + 16 + STREAM_WINDOW_BYTES);
  });

  it('ends cleanly between frames, and says so when the peer resets in the middle of one', async () => {
    const clean = await pair(async (inbound) => {
      const framed = new FramedStream(inbound, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
      await framed.write(new Uint8Array([7]));
      await framed.close();
    });
    const reader = new FramedStream(clean, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
    expect([...((await reader.read()) ?? [])]).toEqual([7]);
    expect(await reader.read()).toBeUndefined();

    const reset = await pair(async (inbound) => {
      // A length prefix promising 100 bytes, then five, then a reset.
      inbound.send(new Uint8Array([100, 1, 2, 3, 4, 5]));
      await sleep(50);
      inbound.abort(new Error('gone'));
    });
    const cut = new FramedStream(reset, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
    await expect(cut.read()).rejects.toThrow();
  });

  it('settles a pending read when the caller aborts', async () => {
    const stream = await pair(async () => {
      await sleep(60_000);
    });
    const controller = new AbortController();
    const framed = new FramedStream(stream, {
      maxFrameBytes: FRAME,
      idleTimeoutMs: 30_000,
      signal: controller.signal,
    });
    const reading = framed.read();
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    await expect(reading).rejects.toThrow('caller gave up');
  });

  it('ends a call at its own deadline and leaves the stream whole for the next read', async () => {
    const stream = await pair(async (inbound) => {
      const framed = new FramedStream(inbound, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
      await sleep(300);
      await framed.write(new Uint8Array([42]));
      await framed.close();
    });
    const framed = new FramedStream(stream, { maxFrameBytes: FRAME, idleTimeoutMs: 10_000 });
    await expect(framed.read({ signal: AbortSignal.timeout(50) })).rejects.toThrow();
    expect(stream.status).toBe('open');
    expect([...((await framed.read()) ?? [])]).toEqual([42]);
  });

  it('resets the stream that would take the process past its budget of unread frames', async () => {
    const budget = new InboundBudget(3 * FRAME);
    const readers: Promise<unknown>[] = [];
    const serve = async (inbound: Stream) => {
      const reader = new FramedStream(inbound, { maxFrameBytes: 2 * FRAME, idleTimeoutMs: 10_000, budget });
      readers.push(reader.read().catch((err: unknown) => err));
    };
    // Each peer sends most of a frame and withholds the rest: the first fits, the second would not.
    const partial = (bytes: number) =>
      new Uint8Array([...varint.encode(2 * FRAME), ...new Uint8Array(bytes)]);
    const first = await pair(serve);
    first.send(partial(1.5 * FRAME));
    await waitForBudget(budget, 1.5 * FRAME);
    const second = await pair(serve);
    second.send(partial(1.6 * FRAME));
    expect(await readers[1]).toBeInstanceOf(OverBudget);
    expect(budget.usedBytes).toBeLessThanOrEqual(3 * FRAME);
    // A stream that ends gives its bytes back, read or not.
    first.abort(new Error('gone'));
    expect(await readers[0]).toBeInstanceOf(Error);
    expect(budget.usedBytes).toBe(0);
  });
});

async function waitForBudget(budget: InboundBudget, bytes: number): Promise<void> {
  for (let i = 0; i < 100 && budget.usedBytes < bytes; i++) await sleep(20);
  expect(budget.usedBytes).toBeGreaterThanOrEqual(bytes);
}
