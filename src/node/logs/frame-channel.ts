import type { FramedStream } from '../../lib/p2p/framed-stream.js';

/**
 * A two-way channel of whole frames, whatever carries them: a libp2p stream to another agent, or meshctl's
 * WebSocket when this agent runs the copy itself. Reads wait while nothing came; writes wait while the far side
 * does not take more (both ways' backpressure).
 */
export interface FrameChannel {
  /** The next frame, or undefined when the far side ended its writing. */
  read(options?: { signal?: AbortSignal }): Promise<Uint8Array | undefined>;
  write(frame: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>;
  /** Ends this side's writing once what was written left. */
  close(): Promise<void>;
  /** Ends both ways at once. */
  abort(error: Error): void;
  /** Fires when the channel is gone (the far side left, or either side aborted). */
  readonly gone: AbortSignal;
}

export function streamChannel(framed: FramedStream): FrameChannel {
  const gone = new AbortController();
  framed.stream.addEventListener('close', () => gone.abort(new Error('the stream closed')), { once: true });
  if (framed.stream.status !== 'open') gone.abort(new Error('the stream closed'));
  return {
    read: (options) => framed.read(options),
    write: (frame, options) => framed.write(frame, options),
    close: () => framed.close(),
    abort: (error) => {
      framed.abort(error);
      gone.abort(error);
    },
    gone: gone.signal,
  };
}

/** `channel` with `first`, a frame already read from it (to route on), handed back by the next read. */
export function withFirstFrame(channel: FrameChannel, first: Uint8Array): FrameChannel {
  let pending: Uint8Array | undefined = first;
  return {
    ...channel,
    read: async (options) => {
      const frame = pending;
      pending = undefined;
      return frame ?? channel.read(options);
    },
  };
}
