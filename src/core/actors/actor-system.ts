import type { Event } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import type { EventFeed, FeedEvent } from '../projections/event-feed.js';
import { Actor, type ActorLimits } from './actor.js';
import type { Decider } from './decider.js';

export type ActorSystemOptions = ActorLimits & {
  /** An actor with an empty mailbox is dropped after this long; it reloads from the log on its next command. */
  idleMs: number;
  /** Most actors kept in memory; past it the least recently used idle ones go. */
  maxActors: number;
};

export const DEFAULT_ACTOR_OPTIONS: ActorSystemOptions = {
  maxMailbox: 10_000,
  maxBatch: 500,
  maxConflictRetries: 20,
  idleMs: 60_000,
  maxActors: 50_000,
};

/** One actor per aggregate: commands to one aggregate run in order, different aggregates in parallel. */
export class ActorSystem<S, C, E extends Event> {
  private readonly actors = new Map<string, Actor<S, C, E>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly decider: Decider<S, C, E>,
    private readonly store: EventStore,
    private readonly feed: EventFeed,
    private readonly options: ActorSystemOptions = DEFAULT_ACTOR_OPTIONS,
  ) {
    this.sweeper = setInterval(() => this.evictIdle(), Math.max(50, Math.floor(options.idleMs / 2)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.actors.size;
  }

  /** Resolves with the events the command produced, once they are committed and published. */
  tell(streamId: string, command: C): Promise<FeedEvent[]> {
    let actor = this.actors.get(streamId);
    if (!actor) {
      actor = new Actor(streamId, this.decider, this.store, this.feed, this.options);
      this.actors.set(streamId, actor);
      if (this.actors.size > this.options.maxActors) this.evictIdle(true);
    }
    return actor.tell(command);
  }

  evictIdle(overCapacity = false): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [id, actor] of this.actors) {
      if (!actor.idle) continue;
      if (actor.lastUsed < cutoff) this.actors.delete(id);
    }
    if (overCapacity || this.actors.size > this.options.maxActors) {
      const idle = [...this.actors].filter(([, a]) => a.idle).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
      for (const [id] of idle.slice(0, this.actors.size - this.options.maxActors + Math.ceil(this.options.maxActors / 10))) {
        this.actors.delete(id);
      }
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
