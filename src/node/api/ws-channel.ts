import type { WebSocket } from 'ws';
import type { FrameChannel } from '../logs/frame-channel.js';

/** Bytes received and not yet read above which the socket stops reading (and TCP holds the sender back). */
const HIGH_WATER = 256 * 1024;

/**
 * A WebSocket as a channel of frames (one binary message each), for `meshctl alloc exec` on both of its ends:
 * meshctl's side and the agent's. A closed socket reads as the end; a text message ends the channel.
 */
export function wsChannel(ws: WebSocket): FrameChannel {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of [...wakers]) w();
  };
  const gone = new AbortController();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      ws.close(1003, 'binary frames only');
      return;
    }
    queue.push(data);
    queued += data.length;
    if (queued > HIGH_WATER) ws.pause();
    wake();
  });
  ws.on('close', () => {
    ended = true;
    gone.abort(new Error('the other side closed the connection'));
    wake();
  });
  ws.on('error', () => {});
  return {
    async read(options) {
      const signal = options?.signal;
      while (queue.length === 0) {
        if (ended) return undefined;
        signal?.throwIfAborted();
        await new Promise<void>((resolve) => {
          const done = () => {
            wakers.delete(done);
            signal?.removeEventListener('abort', done);
            resolve();
          };
          wakers.add(done);
          signal?.addEventListener('abort', done, { once: true });
        });
      }
      const frame = queue.shift()!;
      queued -= frame.length;
      if (queued < HIGH_WATER / 2 && ws.isPaused) ws.resume();
      return frame;
    },
    write: (frame) =>
      new Promise((resolve, reject) => {
        if (ws.readyState !== ws.OPEN) return reject(new Error('the connection is closed'));
        // The callback comes once the socket took the bytes: a slow reader holds the writer back.
        ws.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve()));
      }),
    close: async () => ws.close(1000),
    abort: (error) => {
      ws.terminate();
      gone.abort(error);
    },
    gone: gone.signal,
  };
}
