/** Absolute host paths as job specs and the operator's allow-list write them: pure string rules, no disk. */

/**
 * Why `path` is no absolute, normalised path (what a mount or device needs), or undefined when it is one.
 * `..` and `.` are refused rather than resolved: the allow-list is checked on the path as written, so a path
 * must mean what it says.
 */
export function absolutePathProblem(path: string): string | undefined {
  if (path.includes('\0')) return 'must not contain a NUL character';
  if (!path.startsWith('/')) return `must be an absolute path starting with "/", got "${path}"`;
  if (path === '/') return undefined;
  if (path.endsWith('/')) return 'must not end with "/"';
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return 'must not contain "//"';
    if (segment === '.' || segment === '..') return `must not contain "${segment}" segments`;
  }
  // Docker's device and bind syntax separates fields with ":" and mount options with ",".
  if (path.includes(':') || path.includes(',')) return 'must not contain ":" or ","';
  return undefined;
}

/** Whether `path` is `prefix` or lies under it; both absolute and normalised. */
export function isUnder(path: string, prefix: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}
