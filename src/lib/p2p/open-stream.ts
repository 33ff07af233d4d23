import type { Connection, Stream } from '@libp2p/interface';
import { raceSignal } from 'race-signal';

/**
 * `connection.newStream`, bounded by `signal` however long opening takes. libp2p honours the signal while it
 * negotiates the protocol but not while it records the protocol in its peer store; a stream that opens after
 * the signal fired is reset at once instead of being left open on the connection.
 */
export async function openStream(
  connection: Connection,
  /** Several: the first the other side speaks, in this order. */
  protocol: string | readonly string[],
  signal: AbortSignal,
  options: { runOnLimitedConnection?: boolean } = {},
): Promise<Stream> {
  const opening = connection.newStream(typeof protocol === 'string' ? protocol : [...protocol], {
    signal,
    ...options,
  });
  opening.then(
    (late) => signal.aborted && late.abort(new Error(`${String(protocol)}: opened after its deadline`)),
    () => {},
  );
  return raceSignal(opening, signal);
}
