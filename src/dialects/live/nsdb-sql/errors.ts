/**
 * An NSDb SQL text that does not parse, or a statement NSDb's rules refuse (groupings, distinct, aggregations).
 * `message` is the human reason (with the position when there is one); `reason` alone has no position.
 */
export class NsdbParseError extends Error {
  override readonly name: string = 'NsdbParseError';
  constructor(
    readonly reason: string,
    /** 0-based character offset, when the error is at one place of the text. */
    readonly position?: number,
  ) {
    super(position === undefined ? reason : `${reason} at position ${position}`);
  }
}

/** NSDb's texts for statements that parse but break its rules (io.radicalbit.nsdb.statement.StatementParserErrors). */
export const NSDB_RULES = {
  NO_AGGREGATION_GROUP_BY: 'cannot execute a groupField by query without an aggregation',
  MORE_FIELDS_GROUP_BY: 'cannot execute a groupField by query with more than a aggregateField',
  MORE_FIELDS_DISTINCT: 'cannot execute a select distinct projecting more than one field',
  NO_GROUP_BY_AGGREGATION: 'cannot execute a query with a non global aggregation without a groupBy field',
  GROUP_BY_DISTINCT: 'cannot execute a query with a group by and a distinct clause',
  SIMPLE_AGGREGATION_NOT_ON_TAG: 'cannot execute a groupBy query grouping by a field that is not a tag',
  AGGREGATION_NOT_ALLOWED:
    'Count And Count Distinct Aggregation can be applied to the value and to a tag. Other aggregations can be applied only on the value',
  MULTIPLE_COUNT_AGGREGATIONS: 'Only one Count and one Count Distinct is allowed',
  SORT_DIMENSION_NOT_IN_GROUP: 'cannot sort group by query result by a field not in group by clause',
  GRACE_PERIOD_NOT_ALLOWED: 'grace period clause is allowed only in temporal group by queries',
  DISTINCT_ONLY_COUNT: 'Distinct clause is only applicable to the count aggregation',
  notExistingFields: (fields: readonly string[]) => `field [${fields.join(',')}] does not exist`,
} as const;
