import type { AppendOptions, AppendResult, Event, ExpectedVersion, StreamAppend } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import type { EventFeed } from './event-feed.js';

/**
 * Appends made outside an actor (flows, SQL transactions, documents, identity): what commits is handed to
 * this process's feed before the caller goes on, since the log tail skips this process's own rows and its
 * subscribers would otherwise hear them late (by polling) or, on PGlite, never. Other processes hear them
 * from the tail. Resolves once local listeners were called, so an answer never overtakes its own push.
 */
export class PublishingAppender {
  constructor(
    private readonly store: EventStore,
    private readonly feed: EventFeed,
  ) {}

  async append<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions = {}): Promise<AppendResult> {
    const result = await this.store.append(streamId, expected, events, options);
    await this.feed.publish(result.events);
    return result;
  }

  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    const results = await this.store.appendMany(appends);
    await this.feed.publish(results.flatMap((r) => r.events));
    return results;
  }
}
