import { Command, Query } from '@nestjs/cqrs';
import type { MetricCondition, MetricField, MetricGroupState, MetricGroupStatesRequest, MetricRecord, MetricSelection } from '../domain/metric-query.js';

/** A metric: the record stream `{db}.{namespace}.{metric}` of the streams context. */
export type MetricRef = Readonly<{ db: string; namespace: string; metric: string }>;

/**
 * Checks every point (and the names), creates the metric on first write, appends the points in one
 * transaction. Any bad field refuses the whole write with a `MetricValidationError` listing each
 * `{field, error}`; nothing is stored then. `position`: the stream offset of the last point.
 */
export class WriteMetricPointsCommand extends Command<{ metric: string; count: number; position: number }> {
  constructor(
    readonly ref: MetricRef,
    /** Points as the client sent them ({timestamp?, value, dimensions?, tags?}). */
    readonly points: readonly unknown[],
    /** Prefix of field names in errors (e.g. `bit.` for NSDb's `/data` body). */
    readonly fieldPrefix = '',
  ) {
    super();
  }
}

/** An answer over stored points, complete up to `position`: the metric stream's offset (0 when empty). */
export type MetricQueryResult = { records: MetricRecord[]; position: number };

/**
 * Runs a select over the metric's stored points (the `metric_points` read model, never the log), after
 * the read model has caught up with every point appended before the query. Errors: MetricNotFoundError
 * (`Metric m does not exist`), MetricQueryError (NSDb's schema rules, an answer over `maxRecords`).
 * A live query continues from `position` (SubscribeToStreamQuery on `{db}.{namespace}.{metric}`) with no gap
 * and no duplicate.
 */
export class QueryMetricQuery extends Query<MetricQueryResult> {
  constructor(
    readonly ref: MetricRef,
    readonly selection: MetricSelection,
    readonly options: { maxRecords?: number } = {},
  ) {
    super();
  }
}

/**
 * The incremental state of an aggregate's groups over the stored points (`metric_points`, never the log),
 * complete up to `position`: a live aggregate seeds (and after a delete, re-seeds) from it. At most
 * `request.maxGroups + 1` groups are returned, so the caller can tell when the bound is passed.
 */
export class MetricGroupStatesQuery extends Query<{ groups: MetricGroupState[]; position: number }> {
  constructor(
    readonly ref: MetricRef,
    readonly request: MetricGroupStatesRequest,
  ) {
    super();
  }
}

/** Appends a PointsDeleted event: every stored point matching `where` (all when absent) is dropped from the read model. */
export class DeleteMetricPointsCommand extends Command<{ position: number }> {
  constructor(
    readonly ref: MetricRef,
    readonly where?: MetricCondition,
  ) {
    super();
  }
}

/** Deletes the metric's stream from the catalog (it leaves every list; its events stay in the log). */
export class DropMetricCommand extends Command<{ metric: string }> {
  constructor(readonly ref: MetricRef) {
    super();
  }
}

export class ListMetricDbsQuery extends Query<string[]> {}

export class ListMetricNamespacesQuery extends Query<string[]> {
  constructor(readonly db: string) {
    super();
  }
}

export class ListMetricsQuery extends Query<string[]> {
  constructor(
    readonly db: string,
    readonly namespace: string,
  ) {
    super();
  }
}

/** The fields discovered from the metric's points (NSDb's schema): timestamp, value, dimensions, tags. */
export class DescribeMetricQuery extends Query<{ fields: MetricField[] }> {
  constructor(readonly ref: MetricRef) {
    super();
  }
}
