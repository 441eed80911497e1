import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import {
  DeleteMetricPointsCommand,
  DescribeMetricQuery,
  DropMetricCommand,
  ListMetricDbsQuery,
  ListMetricNamespacesQuery,
  ListMetricsQuery,
  MetricGroupStatesQuery,
  QueryMetricQuery,
  WriteMetricPointsCommand,
  type MetricQueryResult,
} from './commands.js';
import { MetricsService } from './metrics-service.js';

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

@CommandHandler(WriteMetricPointsCommand)
export class WriteMetricPointsHandler implements ICommandHandler<WriteMetricPointsCommand> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  execute({ ref, points, fieldPrefix }: WriteMetricPointsCommand) {
    return this.metrics.write(ref, points, fieldPrefix);
  }
}

@CommandHandler(DeleteMetricPointsCommand)
export class DeleteMetricPointsHandler implements ICommandHandler<DeleteMetricPointsCommand> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  execute({ ref, where }: DeleteMetricPointsCommand) {
    return this.metrics.deletePoints(ref, where);
  }
}

@CommandHandler(DropMetricCommand)
export class DropMetricHandler implements ICommandHandler<DropMetricCommand> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  execute({ ref }: DropMetricCommand) {
    return this.metrics.drop(ref);
  }
}

@QueryHandler(QueryMetricQuery)
export class QueryMetricHandler implements IQueryHandler<QueryMetricQuery> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  execute({ ref, selection, options }: QueryMetricQuery): Promise<MetricQueryResult> {
    return this.metrics.query(ref, selection, options.maxRecords);
  }
}

@QueryHandler(MetricGroupStatesQuery)
export class MetricGroupStatesHandler implements IQueryHandler<MetricGroupStatesQuery> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  execute({ ref, request }: MetricGroupStatesQuery) {
    return this.metrics.groupStates(ref, request);
  }
}

@QueryHandler(DescribeMetricQuery)
export class DescribeMetricHandler implements IQueryHandler<DescribeMetricQuery> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  execute({ ref }: DescribeMetricQuery) {
    return this.metrics.describe(ref);
  }
}

@QueryHandler(ListMetricDbsQuery)
export class ListMetricDbsHandler implements IQueryHandler<ListMetricDbsQuery> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  async execute(): Promise<string[]> {
    return sorted((await this.metrics.list()).map((m) => m.db));
  }
}

@QueryHandler(ListMetricNamespacesQuery)
export class ListMetricNamespacesHandler implements IQueryHandler<ListMetricNamespacesQuery> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  async execute({ db }: ListMetricNamespacesQuery): Promise<string[]> {
    return sorted((await this.metrics.list()).filter((m) => m.db === db).map((m) => m.namespace));
  }
}

@QueryHandler(ListMetricsQuery)
export class ListMetricsHandler implements IQueryHandler<ListMetricsQuery> {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}
  async execute({ db, namespace }: ListMetricsQuery): Promise<string[]> {
    return sorted((await this.metrics.list()).filter((m) => m.db === db && m.namespace === namespace).map((m) => m.metric));
  }
}

export const METRIC_HANDLERS = [
  WriteMetricPointsHandler,
  DeleteMetricPointsHandler,
  DropMetricHandler,
  QueryMetricHandler,
  MetricGroupStatesHandler,
  DescribeMetricHandler,
  ListMetricDbsHandler,
  ListMetricNamespacesHandler,
  ListMetricsHandler,
];
