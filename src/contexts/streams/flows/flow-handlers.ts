import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { EventStore } from '../../../core/event-store/event-store.js';
import { sinksOf } from '../../../core/query/index.js';
import { CATALOG_STREAM, recordStreamId, StreamNotFoundError } from '../domain/catalog.js';
import { CatalogActors, CatalogView } from '../application/catalog-view.js';
import { CreateFlowCommand, DeleteFlowCommand, ListFlowsQuery, type FlowInfo } from '../application/commands.js';
import { FlowManager } from './flow-manager.js';

/** Most flows the catalog holds at once (MAX_FLOWS). */
export const FLOW_SETTINGS = Symbol('FLOW_SETTINGS');
export type FlowSettings = { maxFlows: number };

@CommandHandler(CreateFlowCommand)
export class CreateFlowHandler implements ICommandHandler<CreateFlowCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(FLOW_SETTINGS) private readonly settings: FlowSettings,
  ) {}

  async execute({ name, plan, query, mode, ttlMs }: CreateFlowCommand) {
    const source = await this.view.stream(plan.source);
    if (!source) throw new StreamNotFoundError(plan.source);
    // The log's head first, then the source's last offset: every record after that offset is after that head.
    const logFrom = await this.store.logHead();
    const startAfter = await this.store.streamPosition(recordStreamId(plan.source, source.generation));
    const events = await this.actors.tell(CATALOG_STREAM, {
      kind: 'create_flow',
      name,
      query,
      source: plan.source,
      replace: mode === 'replace',
      ifNotExists: mode === 'if_not_exists',
      ttlMs,
      at: new Date().toISOString(),
      plan,
      sourceGeneration: source.generation,
      startAfter,
      logFrom,
      maxFlows: this.settings.maxFlows,
    });
    await this.view.refresh();
    return { name, created: events.length > 0, replaced: events.length > 1, sourceName: plan.source };
  }
}

@CommandHandler(DeleteFlowCommand)
export class DeleteFlowHandler implements ICommandHandler<DeleteFlowCommand> {
  constructor(
    @Inject(CatalogActors) private readonly actors: CatalogActors,
    @Inject(CatalogView) private readonly view: CatalogView,
  ) {}

  async execute({ name }: DeleteFlowCommand) {
    await this.view.refresh();
    await this.actors.tell(CATALOG_STREAM, { kind: 'delete_flow', name });
    await this.view.refresh();
    return { name };
  }
}

@QueryHandler(ListFlowsQuery)
export class ListFlowsHandler implements IQueryHandler<ListFlowsQuery> {
  constructor(
    @Inject(CatalogView) private readonly view: CatalogView,
    @Inject(FlowManager) private readonly flows: FlowManager,
  ) {}

  async execute(): Promise<FlowInfo[]> {
    await this.view.refresh();
    const paused = await this.flows.paused();
    return Object.entries(this.view.current.flows).map(([flowName, flow]) => ({
      flowName,
      sourceName: flow.source,
      query: flow.query,
      sinks: flow.plan ? sinksOf(flow.plan) : [],
      createdAt: flow.createdAt,
      ...(flow.ttlMs !== undefined ? { ttlSeconds: flow.ttlMs / 1000, expiresAt: new Date(Date.parse(flow.createdAt) + flow.ttlMs).toISOString() } : {}),
      status: paused.has(flowName) ? ('paused' as const) : ('active' as const),
      ...(paused.has(flowName) ? { error: paused.get(flowName) } : {}),
    }));
  }
}
