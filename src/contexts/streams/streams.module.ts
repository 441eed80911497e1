import { Inject, Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { DEFAULT_ACTOR_OPTIONS } from '../../core/actors/actor-system.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { SnapshotStore } from '../../core/event-store/snapshot-store.js';
import { EventFeed } from '../../core/projections/event-feed.js';
import { StreamSubscriptions } from '../../core/projections/stream-subscriptions.js';
import { catalogDecider } from './domain/catalog.js';
import { recordStreamDecider } from './domain/record-stream.js';
import { CatalogActors, CatalogView } from './application/catalog-view.js';
import {
  CountLiveQueriesHandler,
  CreateStreamHandler,
  FlushStreamHandler,
  StartLiveQueryHandler,
  DefineLookupHandler,
  DeleteLookupHandler,
  DeleteStreamHandler,
  InsertRecordsHandler,
  ListLookupsHandler,
  ListStreamsHandler,
  ListSubscriptionsHandler,
  LogErrorHandler,
  StreamInfoHandler,
  SubscribeToStreamHandler,
} from './application/handlers.js';
import { LiveQueries } from './application/live-queries.js';
import { RecordActors, StreamRecords } from './application/stream-records.js';

/** A record stream's actor reloads from a snapshot of its position, never by reading all its records. */
const RECORD_SNAPSHOT_EVERY = 500;

@Injectable()
class StreamsLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(
    @Inject(CatalogView) private readonly catalog: CatalogView,
    @Inject(CatalogActors) private readonly catalogActors: CatalogActors,
    @Inject(RecordActors) private readonly recordActors: RecordActors,
  ) {}

  onModuleInit(): Promise<void> {
    return this.catalog.start();
  }

  onModuleDestroy(): void {
    this.catalog.stop();
    this.catalogActors.stop();
    this.recordActors.stop();
  }
}

/** The streams bounded context: named, durable record streams (offsets are stream positions), lookups, flows. */
@Module({
  imports: [CqrsModule],
  providers: [
    {
      provide: CatalogActors,
      inject: [EventStore, EventFeed],
      useFactory: (store: EventStore, feed: EventFeed) => new CatalogActors(catalogDecider, store, feed, DEFAULT_ACTOR_OPTIONS),
    },
    {
      provide: RecordActors,
      inject: [EventStore, EventFeed, SnapshotStore, ConfigService],
      useFactory: (store: EventStore, feed: EventFeed, snapshots: SnapshotStore, config: ConfigService) =>
        new RecordActors(recordStreamDecider, store, feed, {
          ...DEFAULT_ACTOR_OPTIONS,
          idleMs: config.get('ACTOR_IDLE_MS')!,
          maxActors: config.get('MAX_ACTORS')!,
          snapshots: { store: snapshots, every: RECORD_SNAPSHOT_EVERY },
        }),
    },
    { provide: CatalogView, inject: [EventStore, StreamSubscriptions], useFactory: (store: EventStore, subs: StreamSubscriptions) => new CatalogView(store, subs) },
    {
      provide: StreamRecords,
      inject: [CatalogView, RecordActors, EventStore, StreamSubscriptions],
      useFactory: (catalog: CatalogView, actors: RecordActors, store: EventStore, subs: StreamSubscriptions) => new StreamRecords(catalog, actors, store, subs),
    },
    { provide: LiveQueries, inject: [CatalogView, StreamRecords], useFactory: (catalog: CatalogView, records: StreamRecords) => new LiveQueries(catalog, records) },
    StreamsLifecycle,
    CountLiveQueriesHandler,
    FlushStreamHandler,
    StartLiveQueryHandler,
    CreateStreamHandler,
    DeleteStreamHandler,
    InsertRecordsHandler,
    DefineLookupHandler,
    DeleteLookupHandler,
    LogErrorHandler,
    ListStreamsHandler,
    ListLookupsHandler,
    ListSubscriptionsHandler,
    StreamInfoHandler,
    SubscribeToStreamHandler,
  ],
})
export class StreamsModule {}
