const CAUSES: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EMFILE: 'this process has too many open files',
  ENFILE: 'the system has too many open files',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EIO: 'an I/O error (a failing disk or card?)',
};

/** What an operator reads for a file system error: `read-only file system (EROFS)`, or the raw message. */
export function fsCause(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const cause = code === undefined ? undefined : CAUSES[code];
  return cause === undefined ? ((err as Error | undefined)?.message ?? String(err)) : `${cause} (${code})`;
}
