import { Global, Inject, Injectable, Module, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { Database } from '../database/database.js';
import { EventStore } from '../event-store/event-store.js';
import { ProjectionStatusHandler, RebuildProjectionHandler } from './application/projection-queries.js';
import { EventFeed } from './event-feed.js';
import { LogSubscriptions } from './log-subscriptions.js';
import { ProjectionRuntime } from './projection-runtime.js';
import { PublishingAppender } from './publishing-appender.js';
import { StreamSubscriptions } from './stream-subscriptions.js';

/** Projectors start once every context has registered its own (in onModuleInit), and stop before the database closes. */
@Injectable()
class ProjectionsLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(ProjectionRuntime) private readonly runtime: ProjectionRuntime,
    @Inject(StreamSubscriptions) private readonly subscriptions: StreamSubscriptions,
    @Inject(LogSubscriptions) private readonly logSubscriptions: LogSubscriptions,
  ) {}

  onApplicationBootstrap(): Promise<void> {
    return this.runtime.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.subscriptions.stop();
    await this.logSubscriptions.stop();
    await this.runtime.stop();
  }
}

/** The read side of the core: the projector runtime, and subscriptions to a stream or across streams, for every context. */
@Global()
@Module({
  imports: [CqrsModule],
  providers: [
    {
      provide: ProjectionRuntime,
      inject: [Database, EventStore, EventFeed],
      useFactory: (db: Database, store: EventStore, feed: EventFeed) => new ProjectionRuntime(db, store, feed),
    },
    {
      provide: StreamSubscriptions,
      inject: [EventStore, EventFeed],
      useFactory: (store: EventStore, feed: EventFeed) => new StreamSubscriptions(store, feed),
    },
    {
      provide: LogSubscriptions,
      inject: [EventStore, Database, EventFeed],
      useFactory: (store: EventStore, db: Database, feed: EventFeed) => new LogSubscriptions(store, db, feed),
    },
    {
      provide: PublishingAppender,
      inject: [EventStore, EventFeed],
      useFactory: (store: EventStore, feed: EventFeed) => new PublishingAppender(store, feed),
    },
    ProjectionsLifecycle,
    ProjectionStatusHandler,
    RebuildProjectionHandler,
  ],
  exports: [ProjectionRuntime, StreamSubscriptions, LogSubscriptions, PublishingAppender],
})
export class ProjectionsModule {}
