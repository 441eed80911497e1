/**
 * The NSDb SQL statements as parsed (after radicalbit/NSDb's `SQLStatement` model: select, insert, delete, drop).
 * Relative times (`now - 2h`) stay unresolved here, so one parsed query keeps one canonical form; they are
 * resolved against a clock when the statement is run (`resolveTerm`).
 */

/** A dimension or tag value: NSDb's VARCHAR, INT, BIGINT or DECIMAL. */
export type NsdbValue = string | number;

/** Time units of `now ± n<unit>` and `GROUP BY INTERVAL n<unit>`, canonical names. */
export type NsdbTimeUnit = 'ms' | 's' | 'm' | 'h' | 'd';

export const TIME_UNIT_MILLIS: Record<NsdbTimeUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A value on the right of a comparison: a literal, or `now [± n unit]`. */
export type NsdbTerm =
  | { kind: 'literal'; value: NsdbValue }
  | { kind: 'now'; /** signed offset from now, in ms */ offsetMs: number; /** as written, for the canonical text */ quantity: number; unit: NsdbTimeUnit; sign: '+' | '-' };

export type NsdbComparisonOperator = '=' | '>' | '>=' | '<' | '<=';

export type NsdbExpression =
  | { kind: 'comparison'; field: string; operator: NsdbComparisonOperator; value: NsdbTerm }
  /** NSDb's `field IN (a, b)`: between a and b, both included (NSDb's RangeExpression). */
  | { kind: 'range'; field: string; low: NsdbTerm; high: NsdbTerm }
  /** `field LIKE pattern`, `$` standing for any run of characters. */
  | { kind: 'like'; field: string; pattern: string }
  /** `field IS NULL` (`IS NOT NULL` is `not` around it, as NSDb). */
  | { kind: 'null'; field: string }
  | { kind: 'not'; expression: NsdbExpression }
  | { kind: 'and' | 'or'; left: NsdbExpression; right: NsdbExpression };

export type NsdbAggregation = 'count' | 'count_distinct' | 'sum' | 'min' | 'max' | 'avg' | 'first' | 'last';

/** Aggregations NSDb computes without a GROUP BY (its `GlobalAggregation`s); first and last need a grouping. */
export const GLOBAL_AGGREGATIONS: ReadonlySet<NsdbAggregation> = new Set(['count', 'count_distinct', 'sum', 'min', 'max', 'avg']);

/** A projected field: `name` (`*` for `agg(*)`), with its aggregation if any (`count(value)`, `count(distinct tag)`). */
export type NsdbField = { name: string; aggregation?: NsdbAggregation };

export type NsdbGroupBy =
  | { kind: 'tag'; field: string }
  /** Epoch-aligned buckets of `intervalMs`. */
  | { kind: 'interval'; intervalMs: number; quantity: number; unit: NsdbTimeUnit };

export type NsdbOrder = { field: string; descending: boolean };

export type NsdbSelect = {
  kind: 'select';
  metric: string;
  distinct: boolean;
  /** `'*'` for `SELECT *`, else the list as written. */
  fields: '*' | NsdbField[];
  where?: NsdbExpression;
  groupBy?: NsdbGroupBy;
  orderBy?: NsdbOrder;
  /** `SINCE n unit`: grace period of a temporal group by, ms. */
  gracePeriodMs?: number;
  limit?: number;
};

export type NsdbInsert = {
  kind: 'insert';
  metric: string;
  timestamp?: number;
  dimensions: Record<string, NsdbValue>;
  tags: Record<string, NsdbValue>;
  value: number;
};

export type NsdbDelete = { kind: 'delete'; metric: string; where: NsdbExpression };

export type NsdbDrop = { kind: 'drop'; metric: string };

export type NsdbStatement = NsdbSelect | NsdbInsert | NsdbDelete | NsdbDrop;

/** The timestamp a term stands for at `nowMs` (a literal as is). */
export function resolveTerm(term: NsdbTerm, nowMs: number): NsdbValue {
  return term.kind === 'literal' ? term.value : nowMs + term.offsetMs;
}

/** The key NSDb gives an aggregate in a record's tags: `count(*)`, `sum(*)`, `count(distinct *)`… */
export function aggregationKey(aggregation: NsdbAggregation): string {
  return aggregation === 'count_distinct' ? 'count(distinct *)' : `${aggregation}(*)`;
}
