/**
 * Docker multiplexes a container's stdout and stderr (when it has no TTY) into frames: an 8-byte header
 * (stream type, 3 zero bytes, big-endian payload length) then the payload. Frames straddle chunk boundaries.
 */

export interface LogFrame {
  readonly stream: 'stdout' | 'stderr';
  readonly data: Buffer;
}

const HEADER = 8;

export async function* demuxFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<LogFrame> {
  let buffered = Buffer.alloc(0);
  for await (const chunk of chunks) {
    buffered = buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([buffered, chunk]);
    while (buffered.length >= HEADER) {
      const size = buffered.readUInt32BE(4);
      if (buffered.length < HEADER + size) break;
      // Type 0 (stdin) never appears in logs; anything but stderr is shown as stdout.
      const stream = buffered[0] === 2 ? 'stderr' : 'stdout';
      yield { stream, data: buffered.subarray(HEADER, HEADER + size) };
      buffered = buffered.subarray(HEADER + size);
    }
  }
}
