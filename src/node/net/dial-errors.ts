/**
 * Why this agent's dials fail, for the operator of a device that sits alone. A dead or unreachable peer is routine
 * on flaky links and stays quiet; a handshake that fails after TCP connected is not: in a closed mesh it is what
 * a device flashed with another mesh's join token sees (the pre-shared key differs, so the peer resets the
 * connection at the first encrypted bytes), and it never heals by itself. That kind is logged, rate-limited, and
 * every kind is kept per target for `meshctl status`.
 */
import type { Logger } from 'pino';

export type DialFailureKind = 'unreachable' | 'handshake' | 'peer-id' | 'other';

export interface DialError {
  /** The join address or known peer id that was dialled. */
  target: string;
  kind: DialFailureKind;
  /** What the failure most likely means, in words for an operator. */
  hint: string;
  /** The last error as libp2p or the OS said it. */
  error: string;
  /** Failed dials since the last success. */
  failures: number;
  lastAt: number;
}

const HINTS: Record<DialFailureKind, string> = {
  unreachable: 'no answer (peer down or unreachable)',
  handshake:
    'handshake failed after connecting (mesh key mismatch? this device’s join token may be for another mesh)',
  'peer-id': 'another device answers at this address (its peer id differs from the one in the address)',
  other: 'dial failed',
};

/** Before TCP connected: nobody there, or no route. These heal when the peer or the link comes back. */
const UNREACHABLE =
  /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ETIMEDOUT|EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN/;
/**
 * After TCP connected. Measured with libp2p 3 and @libp2p/pnet: two different keys fail as an EncryptionFailedError
 * "read ECONNRESET" (the peer could not read our multistream header through its key and reset); a closed agent
 * dialling an open one as EncryptionFailedError "Message length too long" or ECONNRESET; an open one dialling a
 * closed one as a bare ECONNRESET during the nonce exchange.
 */
const AFTER_CONNECT = /ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE|end of (input|stream)|unexpected EOF/i;

export function classifyDialError(err: unknown): DialFailureKind {
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  const text = `${e?.code ?? ''} ${e?.message ?? String(err)}`;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || UNREACHABLE.test(text)) return 'unreachable';
  if (e?.name === 'EncryptionFailedError' && /does not match expected remote identity/.test(text))
    return 'peer-id';
  if (e?.name === 'EncryptionFailedError' || AFTER_CONNECT.test(text)) return 'handshake';
  return 'other';
}

export interface DialErrorsOptions {
  now: () => number;
  /** One warning per target per period: a lone device retries every minute for as long as it runs. */
  warnEveryMs?: number;
  /** Targets kept; the oldest failure goes first. */
  max?: number;
}

export class DialErrors {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #warnEveryMs: number;
  readonly #max: number;
  readonly #byTarget = new Map<string, DialError>();
  readonly #warnedAt = new Map<string, number>();

  constructor(log: Logger, opts: DialErrorsOptions) {
    this.#log = log;
    this.#now = opts.now;
    this.#warnEveryMs = opts.warnEveryMs ?? 5 * 60_000;
    this.#max = opts.max ?? 16;
  }

  failed(target: string, err: unknown): DialError {
    const kind = classifyDialError(err);
    const now = this.#now();
    const entry: DialError = {
      target,
      kind,
      hint: HINTS[kind],
      error: (err as Error | undefined)?.message ?? String(err),
      failures: (this.#byTarget.get(target)?.failures ?? 0) + 1,
      lastAt: now,
    };
    // Re-inserted so the map stays ordered by last failure, oldest first, for eviction.
    this.#byTarget.delete(target);
    this.#byTarget.set(target, entry);
    for (const oldest of this.#byTarget.keys()) {
      if (this.#byTarget.size <= this.#max) break;
      this.#byTarget.delete(oldest);
      this.#warnedAt.delete(oldest);
    }
    if (kind === 'handshake' || kind === 'peer-id') this.#warn(entry, now);
    return entry;
  }

  succeeded(target: string): void {
    this.#byTarget.delete(target);
    this.#warnedAt.delete(target);
  }

  /** Newest failure first. */
  list(): DialError[] {
    return [...this.#byTarget.values()].reverse();
  }

  #warn(entry: DialError, now: number): void {
    const last = this.#warnedAt.get(entry.target);
    if (last !== undefined && now - last < this.#warnEveryMs) return;
    this.#warnedAt.set(entry.target, now);
    this.#log.warn(
      { target: entry.target, failures: entry.failures, err: entry.error },
      `cannot connect to ${entry.target}: ${entry.hint}`,
    );
  }
}
