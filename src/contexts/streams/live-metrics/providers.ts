import type { Provider } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { QueryBus } from '@nestjs/cqrs';
import { StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { CatalogView } from '../application/catalog-view.js';
import { MetricGroupStatesQuery, QueryMetricQuery, type MetricRef } from '../metrics/application/commands.js';
import { parseMetricStreamName } from '../metrics/domain/metric.js';
import { LiveMetricsStatsHandler, SubscribeLiveMetricHandler } from './handlers.js';
import { LiveMetrics } from './live-metrics.js';

function refOf(stream: string): MetricRef {
  const ref = parseMetricStreamName(stream);
  if (!ref) throw new Error(`${stream} is not a metric`);
  return ref;
}

/** The live metric queries' providers, listed in the streams module (one spread there). */
export const liveMetricsProviders: Provider[] = [
  {
    provide: LiveMetrics,
    inject: [CatalogView, StreamSubscriptions, ConfigService, QueryBus],
    useFactory: (catalog: CatalogView, subscriptions: StreamSubscriptions, config: ConfigService, queries: QueryBus) =>
      new LiveMetrics(
        catalog,
        subscriptions,
        {
          maxGroups: Number(config.get('LIVE_WS_MAX_GROUPS') ?? 10_000),
          maxResumeRecords: Number(config.get('LIVE_WS_MAX_RESUME_RECORDS') ?? 10_000),
          maxRetention: Number(config.get('LIVE_WS_MAX_RETENTION_SIZE') ?? 10_000),
        },
        // Seeds come from the metrics read model, through the QueryBus: never a read of the log from its start.
        {
          groupStates: (stream, request) => queries.execute(new MetricGroupStatesQuery(refOf(stream), request)),
          select: (stream, selection) => queries.execute(new QueryMetricQuery(refOf(stream), selection)),
        },
      ),
  },
  SubscribeLiveMetricHandler,
  LiveMetricsStatsHandler,
];
