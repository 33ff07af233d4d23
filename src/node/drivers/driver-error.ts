/** Driver failures the reconciler can tell apart, each with a hint that says what the operator should fix. */

export type DriverErrorCode =
  | 'invalid-task'
  | 'engine-unreachable'
  | 'timeout'
  | 'image-pull-failed'
  | 'create-failed'
  | 'start-failed'
  | 'not-found'
  | 'unsupported'
  | 'io';

export class DriverError extends Error {
  override readonly name = 'DriverError';

  constructor(
    readonly code: DriverErrorCode,
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}: ${hint}`, options);
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** Combine the caller's signal with a per-call deadline, so no runtime call can hang the agent. */
export function deadline(ms: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
