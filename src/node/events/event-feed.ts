import { EMPTY_LOOK, type MeshEvent, type MeshLook, meshEvents } from './mesh-events.js';

export interface EventFilter {
  readonly job?: string | undefined;
  /** A peer id or a device name. */
  readonly node?: string | undefined;
}

export interface EventFeedOptions {
  /** Events kept for `recent` and for a follower that reconnects. */
  readonly capacity: number;
  /** Events a follower may fall behind by before it is cut off (it reconnects with `after`). */
  readonly backlog: number;
}

/** A follower fell further behind than the backlog allows: the events it missed are gone from its stream. */
export class FeedOverflow extends Error {}

interface Follower {
  readonly filter: EventFilter;
  readonly queue: MeshEvent[];
  wake?: () => void;
  overflowed: boolean;
}

/**
 * This agent's recent mesh events, numbered, in a bounded ring, and handed to followers as they happen. A follower
 * that does not keep up is cut off once `backlog` events wait for it, never buffered without bound.
 */
export class EventFeed {
  readonly #read: () => MeshLook;
  readonly #now: () => number;
  readonly #options: EventFeedOptions;
  readonly #ring: MeshEvent[] = [];
  readonly #followers = new Set<Follower>();
  #look: MeshLook = EMPTY_LOOK;
  #seq = 0;

  constructor(read: () => MeshLook, now: () => number, options: EventFeedOptions) {
    this.#read = read;
    this.#now = now;
    this.#options = options;
  }

  /** The replica as it was loaded is not news: the first look is taken without events. */
  prime(): void {
    this.#look = this.#read();
  }

  /** Compares the replica with the last look and publishes what changed. */
  refresh(): MeshEvent[] {
    const next = this.#read();
    const events = meshEvents(this.#look, next, this.#now()).map((e) => ({ seq: ++this.#seq, ...e }));
    this.#look = next;
    for (const event of events) {
      this.#ring.push(event);
      for (const follower of this.#followers) this.#offer(follower, event);
    }
    if (this.#ring.length > this.#options.capacity)
      this.#ring.splice(0, this.#ring.length - this.#options.capacity);
    return events;
  }

  /** Kept events after `after` (a seq) that pass the filter, oldest first. */
  recent(filter: EventFilter = {}, after = 0): MeshEvent[] {
    return this.#ring.filter((e) => e.seq > after && matches(e, filter));
  }

  /** Kept events after `after`, then each new one as it happens, until `signal` aborts. */
  async *follow(filter: EventFilter, signal: AbortSignal, after = this.#seq): AsyncGenerator<MeshEvent> {
    const follower: Follower = { filter, queue: this.recent(filter, after), overflowed: false };
    this.#followers.add(follower);
    const onAbort = () => follower.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const event = follower.queue.shift();
        if (event) {
          yield event;
          continue;
        }
        if (follower.overflowed)
          throw new FeedOverflow(`fell more than ${this.#options.backlog} events behind; follow again`);
        await new Promise<void>((resolve) => {
          follower.wake = resolve;
        });
        follower.wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#followers.delete(follower);
    }
  }

  #offer(follower: Follower, event: MeshEvent): void {
    if (follower.overflowed || !matches(event, follower.filter)) return;
    // What waits is still handed over; the follower then hears that it missed the rest.
    if (follower.queue.length >= this.#options.backlog) follower.overflowed = true;
    else follower.queue.push(event);
    follower.wake?.();
  }
}

function matches(event: MeshEvent, filter: EventFilter): boolean {
  if (filter.job !== undefined && event.job !== filter.job) return false;
  if (filter.node !== undefined && event.node !== filter.node && event.nodeName !== filter.node) return false;
  return true;
}
