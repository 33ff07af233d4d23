import { type Watched, watch } from './watched-promise.js';

/** What `withKeepAlive` yields while its source is quiet. */
export const QUIET = Symbol('quiet');

/**
 * The values of `source`, and `QUIET` each time it says nothing for `quietMs`: a long-lived HTTP stream writes
 * something then (a blank line) so that clients, which give up on silent bodies, keep listening. The source is
 * closed when the consumer stops.
 */
export async function* withKeepAlive<T>(
  source: AsyncIterable<T>,
  quietMs: number,
): AsyncGenerator<T | typeof QUIET> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    let next: Watched<IteratorResult<T>> | undefined;
    while (true) {
      next ??= watch(iterator.next());
      if (!(await next.settledWithin(quietMs))) {
        yield QUIET;
        continue;
      }
      const step = await next.promise;
      next = undefined;
      if (step.done) return;
      yield step.value;
    }
  } finally {
    void iterator.return?.()?.catch(() => undefined);
  }
}
