/**
 * Lines of a container's multiplexed, timestamped log. The cursor remembers the newest line yielded, so a
 * follow the engine ended early can be resumed from its log file without repeating a line.
 */

import { demuxFrames } from './docker-log-frames.js';
import { splitTimestamp } from './docker-log-timestamps.js';
import type { LogLine } from './driver.js';
import { LineSplitter } from './line-splitter.js';

export interface LogCursor {
  /** Time of the newest line yielded so far, in ns. */
  last: bigint | undefined;
}

export async function* once(buffer: Buffer): AsyncGenerator<Uint8Array> {
  yield buffer;
}

/** Skips any line not newer than the cursor, which it advances. */
export async function* linesOf(
  chunks: AsyncIterable<Uint8Array>,
  cursor: LogCursor,
): AsyncGenerator<LogLine> {
  const after = cursor.last;
  const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  const emit = (stream: LogLine['stream'], raw: string): LogLine | undefined => {
    const { ns, text } = splitTimestamp(raw);
    if (ns !== undefined && after !== undefined && ns <= after) return undefined;
    if (ns !== undefined && (cursor.last === undefined || ns > cursor.last)) cursor.last = ns;
    return { stream, line: text };
  };
  for await (const frame of demuxFrames(chunks)) {
    for (const raw of splitters[frame.stream].push(frame.data)) {
      const line = emit(frame.stream, raw);
      if (line) yield line;
    }
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    for (const raw of splitters[stream].flush()) {
      const line = emit(stream, raw);
      if (line) yield line;
    }
  }
}
