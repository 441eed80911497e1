import type { MetricValue } from './metric.js';

/**
 * What a select over one metric's stored points asks for, in the streams context's own terms (a dialect
 * translates its statement into this; relative times are already resolved to epoch milliseconds).
 * `timestamp` and `value` name a point's own fields; any other name is a dimension or a tag.
 */
export type MetricCondition =
  | { kind: 'compare'; field: string; operator: '=' | '>' | '>=' | '<' | '<='; value: MetricValue }
  /** low ≤ field ≤ high */
  | { kind: 'between'; field: string; low: MetricValue; high: MetricValue }
  /** `$` stands for any run of characters. */
  | { kind: 'like'; field: string; pattern: string }
  | { kind: 'is_null'; field: string }
  | { kind: 'not'; condition: MetricCondition }
  | { kind: 'and' | 'or'; left: MetricCondition; right: MetricCondition };

export type MetricAggregation = 'count' | 'count_distinct' | 'sum' | 'min' | 'max' | 'avg' | 'first' | 'last';

export type MetricSelectField = { name: string; aggregation?: MetricAggregation };

export type MetricSelection = {
  /** `'*'`: every dimension and tag. */
  fields: '*' | MetricSelectField[];
  distinct: boolean;
  where?: MetricCondition;
  groupBy?: { kind: 'tag'; field: string } | { kind: 'interval'; intervalMs: number };
  orderBy?: { field: string; descending: boolean };
  limit?: number;
  /** Only the points at or before this stream offset (the answer as it stood there, later deletes aside). */
  upToPosition?: number;
};

/** A record of an answer, as NSDb returns its bits. */
export type MetricRecord = { timestamp: number; value: number; dimensions: Record<string, MetricValue>; tags: Record<string, MetricValue> };

export type FieldClassType = 'TIMESTAMP' | 'VALUE' | 'DIMENSION' | 'TAG';
export type FieldType = 'BIGINT' | 'INT' | 'DECIMAL' | 'VARCHAR';
export type MetricField = { name: string; type: FieldType; fieldClassType: FieldClassType };

/** The key NSDb gives an aggregate in a record's tags: `count(*)`, `sum(*)`, `count(distinct *)`… */
export function aggregateKey(aggregation: MetricAggregation): string {
  return aggregation === 'count_distinct' ? 'count(distinct *)' : `${aggregation}(*)`;
}

/** Aggregations computed without a GROUP BY (NSDb's global aggregations). */
export const GLOBAL_METRIC_AGGREGATIONS: ReadonlySet<MetricAggregation> = new Set(['count', 'count_distinct', 'sum', 'min', 'max', 'avg']);

/** Every condition ANDed (undefined when none). */
export function allOf(conditions: readonly (MetricCondition | undefined)[]): MetricCondition | undefined {
  const present = conditions.filter((c): c is MetricCondition => c !== undefined);
  if (present.length === 0) return undefined;
  return present.reduceRight((right, left) => ({ kind: 'and', left, right }));
}

/** What a live aggregate asks of the read model to seed (or re-seed) its groups. */
export type MetricGroupStatesRequest = {
  where?: MetricCondition;
  groupBy?: { kind: 'tag'; field: string } | { kind: 'interval'; intervalMs: number };
  /** count(distinct f): the distinct values of each such field, per group (`*` and `value`: the value). */
  distinctFields: readonly string[];
  /** Only the points at or before this stream offset (the state as it stood there, later deletes aside). */
  upToPosition?: number;
  /** Most groups the answer may hold: one more is fetched, so the caller can tell it was reached. */
  maxGroups: number;
};

/**
 * The incremental state of one group, as the read model holds it: enough to go on adding points to it
 * (count, sum, min, max, the first and last point's timestamp and value, the distinct values).
 */
export type MetricGroupState = {
  /** The group: the tag's value, the interval bucket's lower bound; undefined for a global aggregate. */
  group?: MetricValue;
  count: number;
  sum: number;
  min?: number;
  max?: number;
  firstTs?: number;
  firstValue?: number;
  lastTs?: number;
  lastValue?: number;
  distinct: Record<string, MetricValue[]>;
};
