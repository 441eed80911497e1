import { Global, Inject, Injectable, Module, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Database } from '../database/database.js';
import { EventFeed } from '../projections/event-feed.js';
import { TransientBridge } from '../realtime/transient-bridge.js';
import { EventStore } from './event-store.js';
import { LogTail } from './log-tail.js';
import { SnapshotStore } from './snapshot-store.js';

/** On a shared PostgreSQL: feeds in what other processes append to the log, and exchanges relays with them. */
@Injectable()
class SharedLogFollower implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private tail?: LogTail;
  private bridge?: TransientBridge;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(EventFeed) private readonly feed: EventFeed,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.store.db.shared) return;
    this.tail = new LogTail(this.store, (events) => this.feed.publish(events));
    this.bridge = new TransientBridge(this.store.db, this.feed);
    await this.tail.start();
    await this.bridge.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.bridge?.stop();
    await this.tail?.stop();
    await this.store.drain();
  }
}

@Global()
@Module({
  providers: [
    EventFeed,
    {
      provide: EventStore,
      inject: [Database, ConfigService],
      useFactory: (db: Database, config: ConfigService) =>
        new EventStore(db, {
          maxBatchEvents: config.get('MAX_BATCH_EVENTS'),
          maxBatchBytes: config.get('MAX_BATCH_BYTES'),
          maxQueuedBytes: config.get('MAX_QUEUED_BYTES'),
        }),
    },
    { provide: SnapshotStore, inject: [Database], useFactory: (db: Database) => new SnapshotStore(db) },
    SharedLogFollower,
  ],
  exports: [EventStore, EventFeed, SnapshotStore],
})
export class EventStoreModule {}
