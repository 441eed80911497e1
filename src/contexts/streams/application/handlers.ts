import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { DomainError } from '../../../core/errors/domain-errors.js';
import { EventStore } from '../../../core/event-store/event-store.js';
import { CATALOG_STREAM, recordStreamId, StreamNotFoundError, type CatalogCommand } from '../domain/catalog.js';
import { CatalogActors, CatalogView } from './catalog-view.js';
import {
  CountLiveQueriesQuery,
  CreateStreamCommand,
  FlushStreamCommand,
  StartLiveQueryQuery,
  type LiveQueryHandle,
  DefineLookupCommand,
  DeleteLookupCommand,
  DeleteStreamCommand,
  InsertRecordsCommand,
  ListLookupsQuery,
  ListStreamsQuery,
  ListSubscriptionsQuery,
  LogErrorCommand,
  StreamInfoQuery,
  SubscribeToStreamQuery,
  type InsertOutcome,
  type RecordSubscriptionHandle,
  type StreamInfo,
  type SubscriptionInfo,
} from './commands.js';
import { FlowManager } from '../flows/flow-manager.js';
import { LiveQueries } from './live-queries.js';
import { StreamRecords } from './stream-records.js';

/** The log stream every error of the streams context is appended to, as JSONJet's `_log`. */
export const LOG_STREAM = '_log';

async function changeCatalog(actors: CatalogActors, view: CatalogView, command: CatalogCommand): Promise<number> {
  const events = await actors.tell(CATALOG_STREAM, command);
  await view.refresh(); // this process reads its own change before answering
  return events.length;
}

@CommandHandler(CreateStreamCommand)
export class CreateStreamHandler implements ICommandHandler<CreateStreamCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
  ) {}

  async execute({ name, mode, streamKind }: CreateStreamCommand) {
    const existed = Object.hasOwn(this.view.current.streams, name);
    const written = await changeCatalog(this.actors, this.view, { kind: 'create_stream', name, mode, at: new Date().toISOString(), ...(streamKind ? { streamKind } : {}) });
    return { name, created: written > 0, replaced: written > 1 || (existed && written > 0) };
  }
}

@CommandHandler(DeleteStreamCommand)
export class DeleteStreamHandler implements ICommandHandler<DeleteStreamCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
  ) {}

  async execute({ name }: DeleteStreamCommand) {
    await changeCatalog(this.actors, this.view, { kind: 'delete_stream', name });
    return { name };
  }
}

@CommandHandler(InsertRecordsCommand)
export class InsertRecordsHandler implements ICommandHandler<InsertRecordsCommand> {
  constructor(@Inject(StreamRecords) private readonly records: StreamRecords) {}

  execute({ name, records }: InsertRecordsCommand): Promise<InsertOutcome> {
    return this.records.insert(name, records);
  }
}

@CommandHandler(DefineLookupCommand)
export class DefineLookupHandler implements ICommandHandler<DefineLookupCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
  ) {}

  async execute({ name, value, replace }: DefineLookupCommand) {
    const existed = Object.hasOwn(this.view.current.lookups, name);
    await changeCatalog(this.actors, this.view, { kind: 'define_lookup', name, value, replace, at: new Date().toISOString() });
    return { name, replaced: existed };
  }
}

@CommandHandler(DeleteLookupCommand)
export class DeleteLookupHandler implements ICommandHandler<DeleteLookupCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
  ) {}

  async execute({ name }: DeleteLookupCommand) {
    await changeCatalog(this.actors, this.view, { kind: 'delete_lookup', name });
    return { name };
  }
}

@CommandHandler(LogErrorCommand)
export class LogErrorHandler implements ICommandHandler<LogErrorCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
    @Inject(StreamRecords) private readonly records: StreamRecords,
  ) {}

  async execute({ code, message, query, details }: LogErrorCommand): Promise<void> {
    if (!(await this.view.stream(LOG_STREAM))) {
      await changeCatalog(this.actors, this.view, { kind: 'create_stream', name: LOG_STREAM, mode: 'if_not_exists', at: new Date().toISOString() });
    }
    await this.records.insert(LOG_STREAM, [{ timestamp: new Date().toISOString(), level: 'error', code, message, query, ...details }]);
  }
}

@QueryHandler(ListStreamsQuery)
export class ListStreamsHandler implements IQueryHandler<ListStreamsQuery> {
  constructor(@Inject(CatalogView) private readonly view: CatalogView) {}

  async execute(): Promise<string[]> {
    await this.view.refresh();
    return Object.keys(this.view.current.streams);
  }
}

@QueryHandler(ListLookupsQuery)
export class ListLookupsHandler implements IQueryHandler<ListLookupsQuery> {
  constructor(@Inject(CatalogView) private readonly view: CatalogView) {}

  async execute({ fresh }: ListLookupsQuery): Promise<Record<string, unknown>> {
    if (fresh) await this.view.refresh();
    return Object.fromEntries(Object.entries(this.view.current.lookups).map(([name, entry]) => [name, entry.value]));
  }
}

@QueryHandler(ListSubscriptionsQuery)
export class ListSubscriptionsHandler implements IQueryHandler<ListSubscriptionsQuery> {
  constructor(@Inject(StreamRecords) private readonly records: StreamRecords) {}

  async execute(): Promise<SubscriptionInfo[]> {
    return [...this.records.subscriberCounts()].map(([streamName, subscribers]) => ({ streamName, subscribers }));
  }
}

@QueryHandler(StreamInfoQuery)
export class StreamInfoHandler implements IQueryHandler<StreamInfoQuery> {
  constructor(
    @Inject(CatalogView) private readonly view: CatalogView,
    @Inject(StreamRecords) private readonly records: StreamRecords,
    @Inject(EventStore) private readonly store: EventStore,
  ) {}

  async execute({ name }: StreamInfoQuery): Promise<StreamInfo> {
    const entry = await this.view.stream(name);
    if (!entry) throw new StreamNotFoundError(name);
    const last = await this.store.streamPosition(recordStreamId(name, entry.generation));
    const users = this.records.subscriberCount(name);
    const flows = Object.values(this.view.current.flows).filter((f) => f.source === name).length;
    return {
      name,
      recordCount: last,
      firstOffset: last > 0 ? 1 : null,
      lastOffset: last > 0 ? last : null,
      createdAt: entry.createdAt,
      userSubscriberCount: users,
      flowSubscriberCount: flows,
      totalSubscriberCount: users + flows,
    };
  }
}

@QueryHandler(SubscribeToStreamQuery)
export class SubscribeToStreamHandler implements IQueryHandler<SubscribeToStreamQuery> {
  constructor(@Inject(StreamRecords) private readonly records: StreamRecords) {}

  execute({ name, from, onRecord }: SubscribeToStreamQuery): Promise<RecordSubscriptionHandle> {
    if (typeof from === 'number' && (!Number.isSafeInteger(from) || from < 0)) throw new DomainError('fromOffset must be an offset (an integer ≥ 0), "earliest" or "latest"', 'INVALID_OFFSET');
    return this.records.subscribe(name, from, onRecord);
  }
}

@CommandHandler(FlushStreamCommand)
export class FlushStreamHandler implements ICommandHandler<FlushStreamCommand> {
  constructor(
    @Inject(CatalogView) private readonly view: CatalogView,
    @Inject(LiveQueries) private readonly live: LiveQueries,
    @Inject(FlowManager) private readonly flows: FlowManager,
  ) {}

  async execute({ name }: FlushStreamCommand) {
    if (!(await this.view.stream(name))) throw new StreamNotFoundError(name);
    const flows = await this.flows.flush(name);
    return { streamName: name, flushed: this.live.flush(name) + flows };
  }
}

@QueryHandler(StartLiveQueryQuery)
export class StartLiveQueryHandler implements IQueryHandler<StartLiveQueryQuery> {
  constructor(@Inject(LiveQueries) private readonly live: LiveQueries) {}

  execute({ plan, onOutput, onError }: StartLiveQueryQuery): Promise<LiveQueryHandle> {
    return this.live.start(plan, onOutput, onError);
  }
}

@QueryHandler(CountLiveQueriesQuery)
export class CountLiveQueriesHandler implements IQueryHandler<CountLiveQueriesQuery> {
  constructor(@Inject(LiveQueries) private readonly live: LiveQueries) {}

  async execute(): Promise<number> {
    return this.live.count;
  }
}
