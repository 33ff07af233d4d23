import type { LivenessService } from '../liveness/liveness-service.js';
import type { StateService } from '../state/state-service.js';
import { EventFeed } from './event-feed.js';
import { meshLook } from './mesh-look.js';

export interface EventFeedDeps {
  readonly self: string;
  readonly now: () => number;
  readonly state: () => StateService;
  readonly liveness: Pick<LivenessService, 'onChange' | 'view'>;
}

/** Changes that arrive together (a sync session, a burst of gossip) are compared once, this long after the first. */
const COALESCE_MS = 100;
const CAPACITY = 1_000;
const BACKLOG = 1_000;

/** The agent's event feed, refreshed whenever its replica or its liveness view changes. */
export class EventFeedService {
  readonly name = 'mesh events';
  readonly feed: EventFeed;
  readonly #deps: EventFeedDeps;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void)[] = [];

  constructor(deps: EventFeedDeps) {
    this.#deps = deps;
    const read = () =>
      meshLook({
        self: deps.self,
        state: deps.state().state,
        liveness: (peer) => {
          const status = deps.liveness.view.get(peer, deps.now())?.status;
          return status === 'alive' || status === 'suspect' || status === 'lost' ? status : undefined;
        },
      });
    this.feed = new EventFeed(read, deps.now, { capacity: CAPACITY, backlog: BACKLOG });
  }

  start(): void {
    this.feed.prime();
    const schedule = () => {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.feed.refresh();
      }, COALESCE_MS).unref();
    };
    this.#unsubscribe = [this.#deps.state().onChange(schedule), this.#deps.liveness.onChange(schedule)];
  }

  stop(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
