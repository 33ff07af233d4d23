/**
 * A promise that can be asked, again and again, whether it settled within a time, without piling a reaction
 * onto it per question: a quiet follow asks every few seconds for hours.
 */
export interface Watched<T> {
  readonly promise: Promise<T>;
  /** Whether the promise settled within `ms`; asking again and again adds no reactions to it. */
  settledWithin(ms: number): Promise<boolean>;
}

export function watch<T>(promise: Promise<T>): Watched<T> {
  let settled = false;
  let wake: (() => void) | undefined;
  const done = () => {
    settled = true;
    wake?.();
  };
  promise.then(done, done);
  return {
    promise,
    settledWithin: (ms) =>
      settled
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(settled), ms);
            wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          }),
  };
}
