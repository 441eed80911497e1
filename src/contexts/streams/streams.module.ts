import { Inject, Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { DEFAULT_ACTOR_OPTIONS } from '../../core/actors/actor-system.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { SnapshotStore } from '../../core/event-store/snapshot-store.js';
import { Database } from '../../core/database/database.js';
import { DatabaseModule } from '../../core/database/database.module.js';
import { EventFeed } from '../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../core/projections/projection-runtime.js';
import { PublishingAppender } from '../../core/projections/publishing-appender.js';
import { DEFAULT_LIMITS, type QueryLimits } from '../../core/query/index.js';
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
import { CreateFlowHandler, DeleteFlowHandler, FLOW_SETTINGS, ListFlowsHandler, type FlowSettings } from './flows/flow-handlers.js';
import { FlowManager } from './flows/flow-manager.js';
import { CreateStreamFlows1766100000000 } from './flows/migrations/1766100000000-create-stream-flows.js';
import { METRIC_HANDLERS } from './metrics/application/handlers.js';
import { MetricsService } from './metrics/application/metrics-service.js';
import { metricsProjector } from './metrics/read-model/metrics-projector.js';
import { CreateMetricPoints1766200000000 } from './metrics/read-model/migrations/1766200000000-create-metric-points.js';
import { liveMetricsProviders } from './live-metrics/providers.js';

/** Flows the catalog may hold at once unless MAX_FLOWS says otherwise. */
const DEFAULT_MAX_FLOWS = 100;

/** An integer setting of the validated environment (src/core/config/environment.ts), or its default. */
function intSetting(config: ConfigService, key: string, fallback: number): number {
  const value = Number(config.get(key) ?? fallback);
  return Number.isSafeInteger(value) && value >= 0 ? value : fallback;
}

/** Engine bounds of flows: FLOW_MAX_GROUPS, FLOW_MAX_WINDOW_ITEMS, FLOW_MAX_OPEN_WINDOWS, FLOW_MAX_DISTINCT. */
function flowLimits(config: ConfigService): Partial<QueryLimits> {
  return {
    maxGroups: intSetting(config, 'FLOW_MAX_GROUPS', DEFAULT_LIMITS.maxGroups),
    maxWindowItems: intSetting(config, 'FLOW_MAX_WINDOW_ITEMS', DEFAULT_LIMITS.maxWindowItems),
    maxOpenWindows: intSetting(config, 'FLOW_MAX_OPEN_WINDOWS', DEFAULT_LIMITS.maxOpenWindows),
    maxDistinct: intSetting(config, 'FLOW_MAX_DISTINCT', DEFAULT_LIMITS.maxDistinct),
  };
}

/** A record stream's actor reloads from a snapshot of its position, never by reading all its records. */
const RECORD_SNAPSHOT_EVERY = 500;

@Injectable()
class StreamsLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(
    @Inject(CatalogView) private readonly catalog: CatalogView,
    @Inject(CatalogActors) private readonly catalogActors: CatalogActors,
    @Inject(RecordActors) private readonly recordActors: RecordActors,
    @Inject(FlowManager) private readonly flows: FlowManager,
    @Inject(ProjectionRuntime) private readonly projections: ProjectionRuntime,
  ) {}

  async onModuleInit(): Promise<void> {
    this.projections.register(metricsProjector);
    await this.catalog.start();
    await this.flows.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.flows.stop();
    this.catalog.stop();
    this.catalogActors.stop();
    this.recordActors.stop();
  }
}

/** The streams bounded context: named, durable record streams (offsets are stream positions), lookups, flows. */
@Module({
  imports: [CqrsModule, DatabaseModule.forFeature({ migrations: [CreateStreamFlows1766100000000, CreateMetricPoints1766200000000] })],
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
    { provide: FLOW_SETTINGS, inject: [ConfigService], useFactory: (config: ConfigService): FlowSettings => ({ maxFlows: intSetting(config, 'MAX_FLOWS', DEFAULT_MAX_FLOWS) }) },
    {
      provide: FlowManager,
      inject: [Database, PublishingAppender, ProjectionRuntime, CatalogView, CatalogActors, ConfigService],
      useFactory: (db: Database, appender: PublishingAppender, projections: ProjectionRuntime, catalog: CatalogView, actors: CatalogActors, config: ConfigService) =>
        new FlowManager(db, appender, projections, catalog, actors, { limits: flowLimits(config), sweepMs: 1000 }),
    },
    {
      provide: MetricsService,
      inject: [Database, EventStore, ProjectionRuntime, CatalogView, CatalogActors, StreamRecords, ConfigService],
      useFactory: (db: Database, store: EventStore, projections: ProjectionRuntime, catalog: CatalogView, actors: CatalogActors, records: StreamRecords, config: ConfigService) =>
        new MetricsService(db, store, projections, catalog, actors, records, { maxRecords: intSetting(config, 'LIVE_MAX_QUERY_RECORDS', 10_000), waitMs: 10_000 }),
    },
    ...METRIC_HANDLERS,
    StreamsLifecycle,
    CreateFlowHandler,
    DeleteFlowHandler,
    ListFlowsHandler,
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
    ...liveMetricsProviders,
  ],
})
export class StreamsModule {}
