import { constants, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** Why a file the user named could not be read; the message says what to give instead. */
export class RegularFileError extends Error {}

export interface RegularFileKind {
  /** What the file is to the user: `job file`, `config file`. */
  readonly what: string;
  /** What to give instead of a device, FIFO or directory: `the path of a YAML or JSON file`. */
  readonly hint: string;
  readonly maxBytes: number;
}

/**
 * Reads a regular file of at most `maxBytes`. `/dev/urandom` would be read until memory ran out and a FIFO with no
 * writer would hang the caller; O_NONBLOCK lets the open of a FIFO return so it can be refused. Files in /proc and
 * /sys claim size 0 and can be endless, so the read has its own bound besides the size the file claims.
 */
export async function readRegularFile(path: string, kind: RegularFileKind): Promise<string> {
  const { what, hint, maxBytes } = kind;
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RegularFileError(
      code === 'ENOENT'
        ? `no such ${what}: ${path}`
        : `cannot read ${what} ${path}: ${(err as Error).message}`,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new RegularFileError(`${path} is ${kindOf(info)}, not a ${what}: give ${hint}`);
    const limit = maxBytes >= 1024 ? `${maxBytes / 1024} KiB` : `${maxBytes} bytes`;
    const tooBig = (size: string) =>
      new RegularFileError(`${what} ${path} is ${size}; a ${what} may be at most ${limit}`);
    if (info.size > maxBytes) throw tooBig(`${Math.ceil(info.size / 1024)} KiB`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooBig(`over ${limit}`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch (err) {
    if (err instanceof RegularFileError) throw err;
    throw new RegularFileError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}
