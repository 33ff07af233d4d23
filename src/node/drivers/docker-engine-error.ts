/** What dockerode rejects with: an HTTP status from the engine, or a socket error before any answer. */
export interface EngineError {
  statusCode?: number;
  code?: string;
  json?: { message?: string };
  message: string;
}

export function statusOf(err: unknown): number | undefined {
  return (err as EngineError).statusCode;
}

/** The engine's own words when it gave any: they name the image, port or command at fault. */
export function engineMessage(err: unknown): string {
  const e = err as EngineError;
  return e.json?.message ?? e.message;
}
