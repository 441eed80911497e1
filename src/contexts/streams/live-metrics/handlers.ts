import { Inject } from '@nestjs/common';
import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { LiveMetricsStatsQuery, SubscribeLiveMetricQuery, type LiveMetricsStats, type LiveMetricSubscription } from './commands.js';
import { LiveMetrics } from './live-metrics.js';

@QueryHandler(SubscribeLiveMetricQuery)
export class SubscribeLiveMetricHandler implements IQueryHandler<SubscribeLiveMetricQuery> {
  constructor(@Inject(LiveMetrics) private readonly live: LiveMetrics) {}

  execute({ spec, options }: SubscribeLiveMetricQuery): Promise<LiveMetricSubscription> {
    return this.live.subscribe(spec, options);
  }
}

@QueryHandler(LiveMetricsStatsQuery)
export class LiveMetricsStatsHandler implements IQueryHandler<LiveMetricsStatsQuery> {
  constructor(@Inject(LiveMetrics) private readonly live: LiveMetrics) {}

  async execute(): Promise<LiveMetricsStats> {
    return this.live.stats();
  }
}
