import type { Connection, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { GossipMessage, MeshState } from '../crdt/mesh-state.js';
import type { PeerSyncStates } from '../crdt/peer-sync-states.js';
import { MAX_SYNC_FRAME } from '../crdt/sync-codec.js';
import { SyncSession } from '../crdt/sync-engine.js';
import type { MeshHost } from './libp2p-host.js';
import type { Logger } from './logger.js';

/**
 * Anti-entropy over a libp2p stream: one `SyncSession` per stream, frames length-prefixed and bounded, the
 * whole session under one deadline, and at most one session per peer at a time, because two concurrent
 * sessions with the same peer would fight over the same per-peer sync states.
 */
export const STATE_SYNC_PROTOCOL = '/mycel/state-sync/1.0.0';

export interface SyncProtocolOptions {
  /** Deadline of a whole session, dialer or listener side. */
  readonly sessionTimeoutMs: number;
  /** Inbound sessions served at once across all peers; more are refused (the peer retries later). */
  readonly maxInboundSessions: number;
  readonly maxFrameBytes?: number;
}

export type SyncOutcome =
  | { readonly kind: 'synced'; readonly frames: number }
  /** A session with this peer was already running; its result covers this request. */
  | { readonly kind: 'busy' }
  | { readonly kind: 'failed'; readonly error: string };

export interface SyncProtocolDeps {
  readonly host: Pick<MeshHost, 'handle' | 'unhandle' | 'getConnections'>;
  readonly state: MeshState;
  readonly peerStates: PeerSyncStates;
  readonly now: () => number;
  readonly log: Logger;
  /** Per-peer rate limit on inbound sessions: false refuses the session (counted and logged by the limiter). */
  readonly admit?: (peer: string) => boolean;
  /** Changes a session caused that the rest of the mesh must hear about. */
  readonly publish: (messages: readonly GossipMessage[]) => void;
  /** A session ended after receiving frames: the local replica may have changed. */
  readonly received?: () => void;
}

export class StateSyncProtocol {
  readonly #deps: SyncProtocolDeps;
  readonly #options: SyncProtocolOptions;
  readonly #active = new Map<string, AbortController>();
  #inbound = 0;
  #stopped = false;

  constructor(deps: SyncProtocolDeps, options: SyncProtocolOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  async start(): Promise<void> {
    await this.#deps.host.handle(
      STATE_SYNC_PROTOCOL,
      (stream, connection) => this.#serve(stream, connection),
      {
        // Per connection: one session at a time is the rule, one spare lets a refusal be answered cleanly.
        maxInboundStreams: 2,
        maxOutboundStreams: 2,
      },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const controller of this.#active.values()) controller.abort(new Error('agent stopping'));
    await this.#deps.host.unhandle(STATE_SYNC_PROTOCOL);
  }

  isSyncing(peer: string): boolean {
    return this.#active.has(peer);
  }

  /** Runs one session as the dialer over an existing connection; never dials a new one. */
  async sync(peer: string): Promise<SyncOutcome> {
    if (this.#stopped) return { kind: 'failed', error: 'stopped' };
    if (this.#active.has(peer)) return { kind: 'busy' };
    const connection = this.#deps.host
      .getConnections()
      .find((c) => c.remotePeer.toString() === peer && c.status === 'open');
    if (!connection) return { kind: 'failed', error: 'not connected' };
    const controller = this.#begin(peer);
    let stream: Stream | undefined;
    try {
      stream = await connection.newStream(STATE_SYNC_PROTOCOL, { signal: controller.signal });
      return await this.#run(stream, peer, true, controller.signal);
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)));
      return { kind: 'failed', error: describe(err) };
    } finally {
      this.#end(peer, controller);
    }
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    if (this.#stopped || this.#active.has(peer) || this.#inbound >= this.#options.maxInboundSessions) {
      // Closing at once tells the dialer to try later; its own periodic sync or ours will cover the gap.
      stream.abort(new Error('busy'));
      return;
    }
    if (this.#deps.admit && !this.#deps.admit(peer)) {
      stream.abort(new Error('rate limited'));
      return;
    }
    this.#inbound++;
    const controller = this.#begin(peer);
    try {
      const outcome = await this.#run(stream, peer, false, controller.signal);
      if (outcome.kind === 'failed')
        this.#deps.log.warn({ peer, error: outcome.error }, 'inbound state sync failed');
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      this.#deps.log.warn({ peer, error: describe(err) }, 'inbound state sync failed');
    } finally {
      this.#inbound--;
      this.#end(peer, controller);
    }
  }

  #begin(peer: string): AbortController {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`session over ${this.#options.sessionTimeoutMs} ms`)),
      this.#options.sessionTimeoutMs,
    );
    timer.unref();
    controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    this.#active.set(peer, controller);
    return controller;
  }

  #end(peer: string, controller: AbortController): void {
    if (this.#active.get(peer) === controller) this.#active.delete(peer);
    controller.abort(new Error('session over'));
  }

  async #run(stream: Stream, peer: string, dialer: boolean, signal: AbortSignal): Promise<SyncOutcome> {
    const maxFrame = this.#options.maxFrameBytes ?? MAX_SYNC_FRAME;
    const lp = lpStream(stream, { maxDataLength: maxFrame, maxBufferSize: maxFrame + 16 });
    const session = new SyncSession(this.#deps.state, peer, this.#deps.peerStates);
    const options = { signal };
    if (dialer) await lp.write(session.start(), options);
    let frames = 0;
    while (!session.done) {
      const frame = await lp.read(options);
      frames++;
      const step = session.receive(frame.subarray(), this.#deps.now());
      if (!step.ok) {
        // A hostile or broken peer: end this session, keep the agent.
        stream.abort(new Error(step.error));
        return { kind: 'failed', error: step.error };
      }
      if (step.publish.length > 0) this.#deps.publish(step.publish);
      if (step.send) await lp.write(step.send, options);
      if (step.done) break;
    }
    await stream.close(options);
    if (frames > 0) this.#deps.received?.();
    return { kind: 'synced', frames };
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
