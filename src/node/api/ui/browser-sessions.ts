import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface BrowserSessionLimits {
  /** A login code works once, within this. */
  readonly codeTtlMs: number;
  readonly sessionTtlMs: number;
  /** Outstanding codes and live sessions kept at most; the oldest goes first. */
  readonly maxCodes: number;
  readonly maxSessions: number;
}

export const SESSION_COOKIE = 'mycel_session';

const DEFAULT_LIMITS: BrowserSessionLimits = {
  codeTtlMs: 60_000,
  sessionTtlMs: 12 * 3_600_000,
  maxCodes: 16,
  maxSessions: 64,
};

/**
 * Browser logins without a bearer token in the browser: `meshctl ui` asks (with the token) for a one-time code,
 * the browser trades it for a session cookie (HttpOnly, SameSite=Strict), and the cookie admits read-only
 * requests. Codes and sessions are random 32-byte values held in memory only: an agent restart logs browsers out.
 */
export class BrowserSessions {
  readonly #limits: BrowserSessionLimits;
  readonly #now: () => number;
  readonly #codes = new Map<string, number>();
  readonly #sessions = new Map<string, number>();

  constructor(now: () => number, limits: Partial<BrowserSessionLimits> = {}) {
    this.#now = now;
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get sessionTtlMs(): number {
    return this.#limits.sessionTtlMs;
  }

  issueCode(): { code: string; expiresAt: number } {
    const expiresAt = this.#now() + this.#limits.codeTtlMs;
    const code = randomBytes(32).toString('base64url');
    remember(this.#codes, code, expiresAt, this.#limits.maxCodes, this.#now());
    return { code, expiresAt };
  }

  /** A new session for a valid code, which is used up either way; undefined for an unknown or expired code. */
  redeem(code: string): string | undefined {
    const expiresAt = this.#codes.get(code);
    this.#codes.delete(code);
    if (expiresAt === undefined || expiresAt <= this.#now()) return undefined;
    const session = randomBytes(32).toString('base64url');
    remember(
      this.#sessions,
      session,
      this.#now() + this.#limits.sessionTtlMs,
      this.#limits.maxSessions,
      this.#now(),
    );
    return session;
  }

  /** Whether a request's Cookie header carries a live session. */
  admits(cookieHeader: string | undefined): boolean {
    const presented = sessionOf(cookieHeader);
    if (presented === undefined) return false;
    const now = this.#now();
    for (const [session, expiresAt] of this.#sessions)
      if (expiresAt > now && sameSecret(session, presented)) return true;
    return false;
  }
}

function remember(map: Map<string, number>, key: string, expiresAt: number, max: number, now: number): void {
  for (const [k, at] of map) if (at <= now) map.delete(k);
  while (map.size >= max) map.delete(map.keys().next().value as string);
  map.set(key, expiresAt);
}

function sessionOf(header: string | undefined): string | undefined {
  if (!header || header.length > 8_192) return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=');
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
