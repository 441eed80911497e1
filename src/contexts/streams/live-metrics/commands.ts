import { Query } from '@nestjs/cqrs';
import type { MetricCondition } from '../metrics/domain/metric-query.js';
import type { LiveAggregateFn } from './aggregation.js';

/** A metric record as pushed: the metric data model's `{timestamp, value, dimensions, tags}`. */
export type LiveMetricRecord = {
  timestamp: number;
  value: number;
  dimensions: Record<string, string | number>;
  tags: Record<string, string | number>;
};

export type LiveGroupBy = { kind: 'tag'; field: string } | { kind: 'interval'; intervalMs: number };

/** What a live query computes over the records that pass its `where`. */
export type LiveMetricShape =
  /**
   * Every matching record is pushed; with `fields`, only those of its dimensions and tags (timestamp and value
   * always), as the read model answers `SELECT a, b FROM …`.
   */
  | { kind: 'plain'; fields?: readonly string[] }
  /**
   * Aggregates over every record (no groupBy: one record, `tags` = each aggregate under its `resultKey`,
   * e.g. `count(*)`), per value of a tag (or dimension: `value` = the first aggregate, `tags` = {tag: group}),
   * or per epoch-aligned interval bucket `[floor(ts / n) * n, … + n)` (`value` and `tags[resultKey]` = the
   * first aggregate). As the metrics read model answers the same select.
   */
  | { kind: 'aggregate'; aggregates: LiveAggregate[]; groupBy?: LiveGroupBy }
  /**
   * SELECT DISTINCT field: each value of the field not seen before among the matches is pushed once, as the
   * read model answers it (`{timestamp: 0, value: 0, dimensions|tags: {field: v}}`, or the timestamp/value).
   * A value whose points are all deleted is forgotten, so it is pushed again if it comes back.
   */
  | { kind: 'distinct'; field: string };

export type LiveAggregate = { fn: LiveAggregateFn; resultKey: string; distinctField?: string };

/**
 * A live query over one metric's record stream, free of any dialect's syntax. `key` is the query's canonical
 * form: subscriptions with the same key share one evaluation (and one quid). `where` (relative times
 * already resolved) is compiled onto the core query engine; when it is (or has a conjunct) `x = literal` on a
 * dimension or tag, the evaluation is found by that value instead of being tried on every record.
 */
export type LiveMetricQuerySpec = {
  stream: string;
  key: string;
  where?: MetricCondition;
  shape: LiveMetricShape;
};

/** One throttled push: what changed since the previous one, oldest first; `position` = the stream offset of the last record applied. */
export type LivePush = { quid: string; records: LiveMetricRecord[]; position: number; dropped?: number };

export type LiveSubscribeOptions = {
  /** At most one push per this many ms. */
  refreshPeriodMs: number;
  /** Most records per push (plain and interval queries): the newest, the others counted in `dropped`. */
  retentionSize: number;
  /**
   * Plain queries: where the caller's own answer (stored data, e.g. the read model) stops; pushes hold the
   * matches after it. Unset with `fromPosition` unset: the answer is every match in the stream.
   */
  after?: number;
  /** Plain queries: resume; the answer (`records`) is exactly the matches after this offset. */
  fromPosition?: number;
  onPush: (push: LivePush) => void;
  /** A bound reached (groups), a delete that could not be applied, the metric dropped: told once per reason and subscriber. */
  onError?: (quid: string, message: string) => void;
};

export type LiveMetricSubscription = {
  quid: string;
  /** The answer when the context computed it (resume, aggregates, no `after`); undefined when the caller answers. */
  records?: LiveMetricRecord[];
  /** The offset the answer and state stand at. */
  position: number;
  /** Call once the answer is sent: pushes start. */
  start(): void;
  close(): void;
};

/**
 * Subscribes to a live metric query: shares the evaluation of any query with the same key, answers as
 * `LiveSubscribeOptions` says, then pushes throttled changes until closed. Fails with a DomainError
 * (`LIVE_TOO_MANY_RECORDS`) when a resume is too far behind, or `LIVE_TOO_MANY_GROUPS`.
 */
export class SubscribeLiveMetricQuery extends Query<LiveMetricSubscription> {
  constructor(
    readonly spec: LiveMetricQuerySpec,
    readonly options: LiveSubscribeOptions,
  ) {
    super();
  }
}

export type LiveMetricsStats = { feeds: number; evaluations: number; subscribers: number; indexedEvaluations: number; recordsSeen: number; predicateTests: number };

/** What this process's live metric queries hold (for status pages and the bench). */
export class LiveMetricsStatsQuery extends Query<LiveMetricsStats> {}
