import type { DialError } from '../node/api/types.js';
import { ago, table } from './output.js';

/**
 * The dials that keep failing, under `meshctl status`: a device that sits alone says why (an unreachable join
 * address, or a handshake that fails on the mesh key). Empty when every dial succeeds, as on a healthy device.
 */
export function renderDialErrors(errors: readonly DialError[] | undefined, now: number): string {
  if (!errors || errors.length === 0) return '';
  const lines = table(
    [...errors],
    [
      { header: 'TARGET', value: (e) => e.target },
      { header: 'FAILURES', value: (e) => String(e.failures) },
      { header: 'LAST', value: (e) => ago(e.lastAt, now) },
      { header: 'WHY', value: (e) => `${e.hint}: ${e.error}` },
    ],
  );
  return `\nLast dial errors\n${lines}`;
}
