import type { Connection, Stream } from '@libp2p/interface';
import type { GossipMessage, MeshState } from '../../crdt/mesh-state.js';
import type { PeerSyncStates } from '../../crdt/peer-sync-states.js';
import { MAX_SYNC_FRAME } from '../../crdt/sync-codec.js';
import { SyncSession } from '../../crdt/sync-engine.js';
import { errorMessage } from '../../lib/error-message.js';
import type { Logger } from '../../lib/logger.js';
import { FramedStream, NoProgress } from '../../lib/p2p/framed-stream.js';
import { isDirect } from '../../lib/p2p/newest-connection.js';
import { openStream } from '../../lib/p2p/open-stream.js';
import { ConnectionStalls } from '../net/connection-stalls.js';
import type { MeshHost } from '../net/libp2p-host.js';

/**
 * Anti-entropy over a libp2p stream: one `SyncSession` per stream, frames length-prefixed and bounded, the
 * whole session under one deadline, and at most one session per peer at a time, because two concurrent
 * sessions with the same peer would fight over the same per-peer sync states.
 */
export const STATE_SYNC_PROTOCOL = '/mycel/state-sync/1.0.0';

export interface SyncProtocolOptions {
  /** Deadline of a whole session, dialer or listener side. */
  readonly sessionTimeoutMs: number;
  /**
   * A session that moves no byte for this long is torn down: a peer that stopped answering is found in seconds,
   * while a large but moving session may take up to the whole deadline. Default: the whole deadline.
   */
  readonly progressTimeoutMs?: number;
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
  /** Every session's end, counted by the agent's metrics; `error` says why a failed one failed. */
  readonly ended?: (role: SyncRole, outcome: SyncOutcome['kind'] | 'refused', error?: string) => void;
}

export type SyncRole = 'dialer' | 'listener';

export interface SyncFailure {
  readonly at: number;
  readonly peer: string;
  readonly role: SyncRole;
  readonly error: string;
}

/** Sessions in a row that stall on one connection before it is closed for a fresh one. */
const STALLS_BEFORE_CLOSE = 2;

/** A session that ended because bytes stopped moving, not because the peer refused or broke it. */
function isStall(error: string): boolean {
  return stallReason(error) !== undefined;
}

/** Which timeout ended a failed session, if one did: the metrics tell a stalled peer from a slow session. */
export function stallReason(error: string): 'no-progress' | 'deadline' | undefined {
  if (error.startsWith('no progress')) return 'no-progress';
  if (error.startsWith('session over')) return 'deadline';
  return undefined;
}

/**
 * A session that ran out its deadline or its rounds was, as far as this side can tell, moving: if the Automerge
 * sync states of the two sides disagree about what was delivered, every later session would loop the same way.
 */
function unsettled(error: string): boolean {
  return stallReason(error) === 'deadline' || error === 'too many rounds';
}

const MAX_UNSETTLED = 1_024;

/** Failures kept for `recentFailures`: enough to see a pattern, bounded whatever a peer does. */
const RECENT_FAILURES = 16;

/** A running session. Its deadline frees the peer's slot even if an await inside never returns. */
interface ActiveSession {
  readonly role: SyncRole;
  readonly startedAt: number;
  readonly controller: AbortController;
  deadline?: NodeJS.Timeout;
  /** This side finished the session and closed its end: nothing of it may be reset any more. */
  completed?: boolean;
  stream?: Stream | undefined;
}

export class StateSyncProtocol {
  readonly #deps: SyncProtocolDeps;
  readonly #options: SyncProtocolOptions;
  readonly #active = new Map<string, ActiveSession>();
  readonly #failures: SyncFailure[] = [];
  readonly #stalls = new ConnectionStalls(STALLS_BEFORE_CLOSE);
  /** Peers whose last session moved bytes but never settled: the next one sends whole documents. */
  readonly #unsettled = new Set<string>();
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
    for (const [peer, session] of [...this.#active]) this.#end(peer, session, new Error('agent stopping'));
    await this.#deps.host.unhandle(STATE_SYNC_PROTOCOL);
  }

  isSyncing(peer: string): boolean {
    return this.#active.has(peer);
  }

  /** The latest failed sessions, oldest first: what an operator (or the simulator's report) looks at first. */
  recentFailures(): readonly SyncFailure[] {
    return [...this.#failures];
  }

  /** Peers the next session with sends whole documents to (their last session ran out without settling). */
  unsettledPeers(): string[] {
    return [...this.#unsettled];
  }

  /** Sessions running now, with their age in ms. */
  activeSessions(): { peer: string; role: SyncRole; ageMs: number }[] {
    const now = this.#deps.now();
    return [...this.#active].map(([peer, s]) => ({ peer, role: s.role, ageMs: now - s.startedAt }));
  }

  /**
   * Runs one session as the dialer over an existing direct connection; never dials a new one. A relayed one
   * (limited, net/relay-options.ts) is left alone: a whole replica may not fit its data limit, and a device behind
   * NAT syncs with the relay it is linked to.
   */
  async sync(peer: string): Promise<SyncOutcome> {
    if (this.#stopped) return { kind: 'failed', error: 'stopped' };
    if (this.#active.has(peer)) return { kind: 'busy' };
    const connection = this.#stalls.pick(
      this.#deps.host
        .getConnections()
        .filter((c) => c.remotePeer.toString() === peer && c.status === 'open' && isDirect(c)),
    );
    if (!connection) return { kind: 'failed', error: 'not connected' };
    const outcome = await this.#hold(peer, 'dialer', (signal) =>
      openStream(connection, STATE_SYNC_PROTOCOL, signal),
    );
    const stalled = this.#stalls.record(connection, outcome.kind === 'failed' && isStall(outcome.error));
    if (stalled) {
      // Sessions keep stalling on a connection the peer is otherwise heard on: whatever wedged it (a muxer
      // window never credited, a path that lost one direction), a fresh connection does not carry it over.
      this.#deps.log.info(
        { peer, connection: connection.id },
        'state sync: closing a connection that stalls',
      );
      void connection.close().catch((err: unknown) => connection.abort(err as Error));
    }
    return outcome;
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const inbound = [...this.#active.values()].filter((s) => s.role === 'listener').length;
    if (this.#stopped || this.#active.has(peer) || inbound >= this.#options.maxInboundSessions) {
      // Closing at once tells the dialer to try later; its own periodic sync or ours will cover the gap.
      stream.abort(new Error('busy'));
      this.#deps.ended?.('listener', 'refused');
      return;
    }
    if (this.#deps.admit && !this.#deps.admit(peer)) {
      stream.abort(new Error('rate limited'));
      this.#deps.ended?.('listener', 'refused');
      return;
    }
    const outcome = await this.#hold(peer, 'listener', async () => stream);
    if (outcome.kind === 'failed')
      this.#deps.log.warn({ peer, error: outcome.error }, 'inbound state sync failed');
  }

  /** One session under its deadline, from opening its stream to recording how it ended. */
  async #hold(
    peer: string,
    role: SyncRole,
    open: (signal: AbortSignal) => Promise<Stream>,
  ): Promise<SyncOutcome> {
    const session = this.#begin(peer, role);
    const { signal } = session.controller;
    let outcome: SyncOutcome;
    try {
      // Opening is part of the session's progress: over a connection that died under us, the stream's protocol
      // negotiation waits for an answer that never comes, and only the whole-session deadline would end it.
      const opening = AbortSignal.timeout(this.#progressTimeoutMs());
      session.stream = await open(AbortSignal.any([signal, opening])).catch((err: unknown) => {
        throw opening.aborted && !signal.aborted
          ? new NoProgress(`no progress for ${this.#progressTimeoutMs()} ms: the stream did not open`)
          : err;
      });
      const stream = session.stream;
      outcome = await this.#run(stream, peer, role === 'dialer', signal);
      if (outcome.kind === 'synced') {
        // Our side is closed; the stream is gone once the peer closes its side too. Should the peer never do so,
        // the half-open stream would hold one of the connection's few sync stream slots for good.
        session.completed = true;
        setTimeout(() => {
          if (stream.status === 'open') stream.abort(new Error('the peer never closed a finished session'));
        }, this.#progressTimeoutMs()).unref();
      }
    } catch (err) {
      outcome = { kind: 'failed', error: errorMessage(err) };
    } finally {
      this.#end(peer, session, new Error('session over'));
    }
    this.#record(peer, role, outcome);
    return outcome;
  }

  #record(peer: string, role: SyncRole, outcome: SyncOutcome): void {
    this.#deps.ended?.(role, outcome.kind, outcome.kind === 'failed' ? outcome.error : undefined);
    if (outcome.kind === 'synced') this.#unsettled.delete(peer);
    if (outcome.kind !== 'failed') return;
    if (unsettled(outcome.error)) {
      if (this.#unsettled.size >= MAX_UNSETTLED)
        this.#unsettled.delete(this.#unsettled.values().next().value!);
      this.#unsettled.add(peer);
    }
    this.#failures.push({ at: this.#deps.now(), peer, role, error: outcome.error });
    if (this.#failures.length > RECENT_FAILURES) this.#failures.shift();
  }

  #begin(peer: string, role: SyncRole): ActiveSession {
    const session: ActiveSession = { role, startedAt: this.#deps.now(), controller: new AbortController() };
    session.deadline = setTimeout(
      () => this.#end(peer, session, new Error(`session over ${this.#options.sessionTimeoutMs} ms`)),
      this.#options.sessionTimeoutMs,
    );
    session.deadline.unref();
    this.#active.set(peer, session);
    return session;
  }

  /**
   * Ends a session: the slot is freed (unless a newer session holds it already), and the stream, if the session
   * did not complete, is reset, which fails any read or write still pending on it.
   */
  #end(peer: string, session: ActiveSession, reason: Error): void {
    if (this.#active.get(peer) === session) this.#active.delete(peer);
    clearTimeout(session.deadline);
    // Aborting a completed session's signal would reset a stream the peer may still be reading our last frame from.
    if (session.completed) return;
    session.controller.abort(reason);
    session.stream?.abort(reason);
  }

  #progressTimeoutMs(): number {
    return Math.min(this.#options.progressTimeoutMs ?? Infinity, this.#options.sessionTimeoutMs);
  }

  async #run(stream: Stream, peer: string, dialer: boolean, signal: AbortSignal): Promise<SyncOutcome> {
    const framed = new FramedStream(stream, {
      maxFrameBytes: this.#options.maxFrameBytes ?? MAX_SYNC_FRAME,
      idleTimeoutMs: this.#progressTimeoutMs(),
      signal,
    });
    const session = new SyncSession(this.#deps.state, peer, this.#deps.peerStates, {
      wholeDocuments: this.#unsettled.has(peer),
    });
    if (dialer) await framed.write(session.start());
    let frames = 0;
    while (!session.done) {
      const frame = await framed.read();
      if (!frame) throw new Error('the peer ended the session early');
      frames++;
      const step = session.receive(frame, this.#deps.now());
      if (!step.ok) {
        // A hostile or broken peer: end this session, keep the agent.
        framed.abort(new Error(step.error));
        return { kind: 'failed', error: step.error };
      }
      if (step.publish.length > 0) this.#deps.publish(step.publish);
      if (step.send) await framed.write(step.send);
      if (step.done) break;
    }
    await framed.close();
    if (frames > 0) this.#deps.received?.();
    return { kind: 'synced', frames };
  }
}
