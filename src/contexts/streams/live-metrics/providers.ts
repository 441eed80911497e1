import type { Provider } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { CatalogView } from '../application/catalog-view.js';
import { MetricsService } from '../metrics/application/metrics-service.js';
import { parseMetricStreamName } from '../metrics/domain/metric.js';
import { LiveMetricsStatsHandler, SubscribeLiveMetricHandler } from './handlers.js';
import { LiveMetrics } from './live-metrics.js';

/** The live metric queries' providers, listed in the streams module (one spread there). */
export const liveMetricsProviders: Provider[] = [
  {
    provide: LiveMetrics,
    inject: [CatalogView, StreamSubscriptions, ConfigService, MetricsService],
    useFactory: (catalog: CatalogView, subscriptions: StreamSubscriptions, config: ConfigService, metrics: MetricsService) =>
      new LiveMetrics(catalog, subscriptions, {
        maxGroups: Number(config.get('LIVE_WS_MAX_GROUPS') ?? 10_000),
        maxResumeRecords: Number(config.get('LIVE_WS_MAX_RESUME_RECORDS') ?? 10_000),
        maxRetention: Number(config.get('LIVE_WS_MAX_RETENTION_SIZE') ?? 10_000),
      }, (stream, selection) => {
        const ref = parseMetricStreamName(stream);
        if (!ref) throw new Error(`${stream} is not a metric`);
        return metrics.query(ref, selection);
      }),
  },
  SubscribeLiveMetricHandler,
  LiveMetricsStatsHandler,
];
