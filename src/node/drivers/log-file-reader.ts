/**
 * Reads the exec driver's log files: the last lines of each, then, when following, what is appended until
 * the writer is gone or the caller aborts. Files are polled rather than watched: inotify misses writes from
 * other processes on some filesystems, and a poll every few hundred ms costs nothing. A file that shrank was
 * rotated (copy-truncate), so reading restarts at its beginning.
 */
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine } from './driver.js';
import { LineSplitter } from './line-splitter.js';

export interface LogSource {
  readonly path: string;
  readonly stream: LogLine['stream'];
}

export interface ReadLogOptions {
  readonly tail?: number;
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  readonly pollMs?: number;
  /** Following ends once this answers false and nothing new was read. */
  readonly writerAlive: () => boolean;
}

/** History beyond this is not worth reading for a tail: at least as large as the rotation cap. */
const MAX_HISTORY_BYTES = 4 * 1024 * 1024;

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function readRange(path: string, from: number, to: number): Promise<Buffer> {
  if (to <= from) return Buffer.alloc(0);
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return Buffer.alloc(0);
  try {
    const buffer = Buffer.alloc(to - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export async function* readLogFiles(
  sources: readonly LogSource[],
  options: ReadLogOptions,
): AsyncGenerator<LogLine> {
  const { signal, pollMs = 200 } = options;
  const cursors = sources.map((source) => ({ ...source, offset: 0, splitter: new LineSplitter() }));

  for (const cursor of cursors) {
    const size = await sizeOf(cursor.path);
    const from = Math.max(0, size - MAX_HISTORY_BYTES);
    const lines = cursor.splitter.push(await readRange(cursor.path, from, size));
    if (!options.follow) lines.push(...cursor.splitter.flush());
    cursor.offset = size;
    // A cut-off first line is not a line; skip it unless we read the file from its start.
    const whole = from === 0 ? lines : lines.slice(1);
    const tail = options.tail === undefined ? whole : whole.slice(Math.max(0, whole.length - options.tail));
    for (const line of tail) yield { stream: cursor.stream, line };
  }

  while (options.follow && !signal?.aborted) {
    const alive = options.writerAlive();
    let readAny = false;
    for (const cursor of cursors) {
      const size = await sizeOf(cursor.path);
      if (size < cursor.offset) cursor.offset = 0;
      if (size === cursor.offset) continue;
      readAny = true;
      const lines = cursor.splitter.push(await readRange(cursor.path, cursor.offset, size));
      cursor.offset = size;
      for (const line of lines) yield { stream: cursor.stream, line };
    }
    if (!alive && !readAny) break;
    try {
      await sleep(pollMs, undefined, { signal });
    } catch {
      break;
    }
  }

  if (options.follow && !signal?.aborted) {
    for (const cursor of cursors) {
      for (const line of cursor.splitter.flush()) yield { stream: cursor.stream, line };
    }
  }
}
