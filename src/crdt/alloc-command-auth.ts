import { type Sign, type Signature, signValue, verifyValue } from './signature.js';

/**
 * Operator signatures on commands to one copy (`meshctl alloc exec`, `alloc restart`). Nothing is replicated:
 * the device that runs the copy checks the signature itself, so an agent that relays the request (or a member
 * that holds the mesh key but no operator key) can neither forge one nor change what is run. The signature
 * covers the kind, the alloc, the whole command and TTY choice, a time and a nonce: the owner accepts it only
 * close to its own clock, and each nonce only once within that window (`ReplayGuard`), so a recorded request
 * cannot be sent again.
 */
const ALLOC_COMMAND_DOMAIN = 'alloc-command';
/** How far the signer's clock may be from the owner's, either way. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface AllocCommand {
  readonly kind: 'exec' | 'restart';
  readonly allocId: string;
  /** The program and its arguments (empty for a restart). */
  readonly command: readonly string[];
  readonly tty: boolean;
  /** Signer's wall clock, ms. */
  readonly at: number;
  /** Random, at least 16 characters: makes each request unique within the skew window. */
  readonly nonce: string;
}

function payload(c: AllocCommand): unknown {
  return {
    kind: c.kind,
    allocId: c.allocId,
    command: [...c.command],
    tty: c.tty,
    at: c.at,
    nonce: c.nonce,
  };
}

export function signAllocCommand(command: AllocCommand, signer: string, sign: Sign): Signature {
  return signValue(ALLOC_COMMAND_DOMAIN, payload(command), signer, sign);
}

/** Why the command must not run in a mesh trusting `operators`, at the owner's time `now`; undefined if it may. */
export function allocCommandRejection(
  command: AllocCommand,
  auth: Signature | undefined,
  operators: ReadonlySet<string>,
  now: number,
): string | undefined {
  if (!auth) return 'this mesh is closed: the request must be signed with an operator key (--operator-key)';
  if (!operators.has(auth.signer)) return `signer ${auth.signer} is not a trusted operator of this mesh`;
  if (Math.abs(now - command.at) > MAX_CLOCK_SKEW_MS)
    return `the request was signed at ${new Date(command.at).toISOString()}, over ${MAX_CLOCK_SKEW_MS / 60_000} minutes from this device's clock (${new Date(now).toISOString()}): check both clocks`;
  if (command.nonce.length < 16) return 'the request carries no usable nonce';
  if (!verifyValue(ALLOC_COMMAND_DOMAIN, payload(command), auth)) return 'forged signature';
  return undefined;
}

/**
 * Nonces of accepted requests, kept while their time is inside the skew window (a request outside it is
 * refused anyway). Bounded: past `max` entries the oldest go first, and a full guard refuses rather than
 * forget a nonce still inside the window. Pure: the caller passes the time.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max = 4096) {
    this.#max = max;
  }

  /** True (and remembered) when `nonce` was not used before; false for a replay or when full. */
  admit(nonce: string, at: number, now: number): boolean {
    const expired = (when: number) => Math.abs(now - when) > MAX_CLOCK_SKEW_MS;
    for (const [seen, when] of this.#seen) {
      if (!expired(when)) break;
      this.#seen.delete(seen);
    }
    // Times arrive out of order: when full, look past the first entry still inside the window.
    if (this.#seen.size >= this.#max)
      for (const [seen, when] of this.#seen) if (expired(when)) this.#seen.delete(seen);
    if (this.#seen.has(nonce) || this.#seen.size >= this.#max) return false;
    this.#seen.set(nonce, at);
    return true;
  }
}
