import type { ConnectionGater } from '@libp2p/interface';
import type { Logger } from '../../lib/logger.js';
import { REVOCATION_NOTICE_MS, revocationGater } from './revocation-gater.js';

/** Devices an operator revoked, as this agent enforces them: refused by the connection gater, unheard. */
export class RevokedDevices {
  readonly #peers = new Set<string>();

  has(peer: string): boolean {
    return this.#peers.has(peer);
  }

  /** True if `peer` was not revoked before. */
  add(peer: string): boolean {
    if (this.#peers.has(peer)) return false;
    this.#peers.add(peer);
    return true;
  }

  /** The host's gater: refuses revoked devices on top of `inner` (the simulator's partitions). */
  gater(inner?: ConnectionGater): ConnectionGater {
    return revocationGater((peer) => this.has(peer), inner);
  }
}

export interface RevocationsDeps {
  readonly self: string;
  readonly log: Logger;
  readonly revoked: RevokedDevices;
  /** Devices the replicated trust document revokes. */
  readonly trusted: () => Iterable<string>;
  /** Calls `listener` whenever the replicated state changes; returns the unsubscribe. */
  readonly onChange: (listener: () => void) => () => void;
  /** Drops `peer` from the liveness view. */
  readonly forget: (peer: string) => void;
  /** Closes every open connection to `peer`. */
  readonly disconnect: (peer: string) => void;
  /** Stops this device's own workloads: it has been revoked. */
  readonly fence: () => Promise<void>;
}

/**
 * Cuts off devices newly revoked in the trust document: the gater refuses them from now on, open connections
 * close, and they leave the liveness view (placement already ignores their records). Revoked itself, this
 * device stops its own workloads.
 */
export class Revocations {
  readonly name = 'revocations';
  readonly #deps: RevocationsDeps;
  readonly #timers = new Set<NodeJS.Timeout>();
  #unsubscribe: (() => void) | undefined;

  constructor(deps: RevocationsDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#unsubscribe = this.#deps.onChange(() => this.apply());
    this.apply();
  }

  stop(): void {
    this.#unsubscribe?.();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  apply(): void {
    const { self, log, revoked } = this.#deps;
    for (const peer of this.#deps.trusted()) {
      if (!revoked.add(peer)) continue;
      if (peer === self) {
        log.error('this device has been revoked by an operator: the mesh refuses it');
        // Members re-place its copies now; running them here too would exceed every job's count.
        void this.#deps.fence().catch((err: unknown) => log.error({ err }, 'self-fencing failed'));
        continue;
      }
      log.warn({ peer }, 'device revoked: refusing and dropping it');
      this.#deps.forget(peer);
      // Open connections close a moment later, not at once: long enough for the gossiped revocation to reach
      // the device, so that an unmodified one fences itself instead of running copies members re-place. What
      // it sends meanwhile is already ignored, and the gater refuses any new connection from now on.
      const close = setTimeout(() => {
        this.#timers.delete(close);
        this.#deps.disconnect(peer);
      }, REVOCATION_NOTICE_MS);
      close.unref();
      this.#timers.add(close);
    }
  }
}
