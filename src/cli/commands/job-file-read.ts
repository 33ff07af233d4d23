import { constants, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { MAX_JOB_FILE_BYTES } from '../../crdt/job-file-size.js';
import { CliError } from '../api-client.js';

/**
 * A job file is a regular file of at most MAX_JOB_FILE_BYTES: `/dev/urandom` would be read until memory ran out
 * and a FIFO with no writer would hang meshctl. O_NONBLOCK lets the open of a FIFO return so it can be refused.
 */
export async function readJobFile(file: string): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `no such job file: ${file}`
        : `cannot read job file ${file}: ${(err as Error).message}`,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new CliError(`${file} is ${kindOf(info)}, not a job file: give the path of a YAML or JSON file`);
    }
    const tooBig = (size: string) =>
      new CliError(`job file ${file} is ${size}; a job file may be at most ${MAX_JOB_FILE_BYTES / 1024} KiB`);
    if (info.size > MAX_JOB_FILE_BYTES) throw tooBig(`${Math.ceil(info.size / 1024)} KiB`);
    // Files in /proc and /sys claim size 0 and can be endless: the read has its own bound.
    const buffer = Buffer.alloc(MAX_JOB_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_JOB_FILE_BYTES) throw tooBig(`over ${MAX_JOB_FILE_BYTES / 1024} KiB`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read job file ${file}: ${(err as Error).message}`);
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
