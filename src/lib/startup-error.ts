/**
 * A start-up failure the operator fixes on the device (a port another process holds): its message says what to
 * change, so meshd prints it without a stack trace.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

const IN_USE = /(\/\S+): Error: listen EADDRINUSE/g;

/**
 * libp2p reports every listen address that failed in one message; the ones another process holds become a
 * `StartupError` naming them. Any other error is returned as it came.
 */
export function explainListenFailure(err: unknown): unknown {
  const message = err instanceof Error ? err.message : '';
  const held = [...message.matchAll(IN_USE)].map((m) => m[1]);
  if (held.length === 0) return err;
  return new StartupError(
    `cannot listen on ${held.join(', ')}: another process already uses ${held.length === 1 ? 'that port' : 'those ports'}. ` +
      'Stop it, or give meshd another --listen (tcp/0 picks a free port)',
    { cause: err },
  );
}

export function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}
