/**
 * Runs a driver call under a deadline that holds even when the driver ignores its signal; `closing` aborts it
 * early, so closing the reconciler never waits on a long image pull.
 */
export function withDeadline<T>(
  what: string,
  ms: number,
  closing: AbortSignal,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  const signal = AbortSignal.any([timeout, closing]);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(new Error(timeout.aborted ? `${what} took over ${ms} ms` : `${what}: the reconciler closed`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    fn(signal)
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}
