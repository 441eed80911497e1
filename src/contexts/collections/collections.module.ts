import { Inject, Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { Database } from '../../core/database/database.js';
import { DatabaseModule } from '../../core/database/database.module.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { ProjectionRuntime } from '../../core/projections/projection-runtime.js';
import { PublishingAppender } from '../../core/projections/publishing-appender.js';
import { CloseSqlSessionHandler, ExecuteSqlHandler, RunSqlQueryHandler } from './application/handlers.js';
import { DEFAULT_SQL_ENGINE_OPTIONS, SqlEngine, type SqlEngineOptions } from './application/sql-engine.js';
import { TablePolicies } from './documents/table-policies.js';
import { DOCUMENT_HANDLERS } from './documents/document-handlers.js';
import { DEFAULT_DOCUMENT_STORE_OPTIONS, DocumentStore } from './documents/document-store.js';
import { StreamSubscriptions } from '../../core/projections/stream-subscriptions.js';
import { collectionsProjector } from './read-model/collections-projector.js';
import { COLLECTIONS_MIGRATIONS } from './read-model/migrations/index.js';

/** The settings of the collections, by environment variable (each with its default). */
export const COLLECTIONS_SETTINGS: Readonly<Record<keyof Omit<SqlEngineOptions, 'maxRetries'>, string>> = {
  maxResultRows: 'SQL_MAX_RESULT_ROWS',
  statementTimeoutMs: 'SQL_STATEMENT_TIMEOUT_MS',
  maxWriteRows: 'SQL_MAX_WRITE_ROWS',
  transactionTimeoutMs: 'SQL_TRANSACTION_TIMEOUT_MS',
  maxTransactions: 'SQL_MAX_TRANSACTIONS',
};

export function engineOptions(config: ConfigService): SqlEngineOptions {
  const options: Record<string, number> = { ...DEFAULT_SQL_ENGINE_OPTIONS };
  for (const [key, variable] of Object.entries(COLLECTIONS_SETTINGS)) {
    const raw = config.get<unknown>(variable);
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${variable} must be a positive integer (got ${String(raw)})`);
    options[key] = n;
  }
  return options as SqlEngineOptions;
}

@Injectable()
class CollectionsLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(
    @Inject(ProjectionRuntime) private readonly projections: ProjectionRuntime,
    @Inject(SqlEngine) private readonly engine: SqlEngine,
  ) {}

  onModuleInit(): void {
    this.projections.register(collectionsProjector);
  }

  onModuleDestroy(): void {
    this.engine.stop();
  }
}

/** The collections bounded context: tables of schemaless documents, every change an event, history kept. */
@Module({
  imports: [CqrsModule, DatabaseModule.forFeature({ migrations: COLLECTIONS_MIGRATIONS })],
  providers: [
    {
      provide: SqlEngine,
      inject: [Database, PublishingAppender, ConfigService, TablePolicies],
      useFactory: (db: Database, appender: PublishingAppender, config: ConfigService, policies: TablePolicies) =>
        new SqlEngine(db, appender, engineOptions(config), policies),
    },
    {
      provide: DocumentStore,
      inject: [Database, EventStore, StreamSubscriptions, PublishingAppender, ConfigService],
      useFactory: (db: Database, store: EventStore, subscriptions: StreamSubscriptions, appender: PublishingAppender, config: ConfigService) =>
        new DocumentStore(db, store, subscriptions, appender, { ...DEFAULT_DOCUMENT_STORE_OPTIONS, statementTimeoutMs: engineOptions(config).statementTimeoutMs }),
    },
    TablePolicies,
    ...DOCUMENT_HANDLERS,
    CollectionsLifecycle,
    ExecuteSqlHandler,
    RunSqlQueryHandler,
    CloseSqlSessionHandler,
  ],
})
export class CollectionsModule {}
