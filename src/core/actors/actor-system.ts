import type { Event } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import type { EventFeed, FeedEvent } from '../projections/event-feed.js';
import { Actor, type ActorLimits } from './actor.js';
import type { Decider } from './decider.js';

export type ActorSystemOptions = ActorLimits & {
  /** An actor with an empty mailbox is dropped after this long; it reloads from the log on its next command. */
  idleMs: number;
  /**
   * Most actors kept in memory: past it the least recently used idle ones go at once. A busy actor (one
   * with commands in hand) is never dropped, so the count may pass it by as many as are busy.
   */
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

  has(streamId: string): boolean {
    return this.actors.has(streamId);
  }

  /** Resolves with the events the command produced, once they are committed and published. */
  tell(streamId: string, command: C): Promise<FeedEvent[]> {
    let actor = this.actors.get(streamId);
    if (actor) {
      // The map's order is the order of use: the least recently used are at its front.
      this.actors.delete(streamId);
      this.actors.set(streamId, actor);
      return actor.tell(command);
    }
    actor = new Actor(streamId, this.decider, this.store, this.feed, this.options);
    this.actors.set(streamId, actor);
    // Told first, so busy: the new actor is not among those evicted to make room for it.
    const told = actor.tell(command);
    if (this.actors.size > this.options.maxActors) this.evictLeastRecentlyUsed();
    return told;
  }

  /**
   * From the front until back under the bound. A busy actor cannot go: it moves to the back, so that
   * each is passed over once rather than on every new actor (O(1) amortized per new actor).
   */
  private evictLeastRecentlyUsed(): void {
    let visits = this.actors.size;
    for (const [id, actor] of this.actors) {
      if (this.actors.size <= this.options.maxActors || visits-- === 0) return;
      this.actors.delete(id);
      if (!actor.idle) this.actors.set(id, actor);
    }
  }

  /** Drops the actors idle for longer than `idleMs`. */
  evictIdle(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const [id, actor] of this.actors) if (actor.idle && actor.lastUsed < cutoff) this.actors.delete(id);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
