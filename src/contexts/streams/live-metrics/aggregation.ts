/**
 * Incremental aggregation state of one group of a live metric query: every record adds to it in O(1)
 * (count_distinct: one set insertion), and its result can be read at any time.
 */
export type LiveAggregateFn = 'count' | 'count_distinct' | 'sum' | 'min' | 'max' | 'avg' | 'first' | 'last';

export type GroupState = {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** first/last: the value at the smallest/largest timestamp seen (ties: the earlier/later record). */
  firstTs: number;
  firstValue: number;
  lastTs: number;
  lastValue: number;
  /** count(distinct field): the values seen, per field. */
  distinct?: Map<string, Set<string>>;
};

export function newGroup(distinctFields: readonly string[]): GroupState {
  return {
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    firstTs: Infinity,
    firstValue: 0,
    lastTs: -Infinity,
    lastValue: 0,
    distinct: distinctFields.length ? new Map(distinctFields.map((f) => [f, new Set<string>()])) : undefined,
  };
}

/**
 * Adds one record: its value, timestamp and, for count(distinct x), its value of each such field (at most
 * `maxDistinct` values per field are kept: false when a new one was refused).
 */
export function addToGroup(group: GroupState, value: number, timestamp: number, fieldOf: (field: string) => unknown, maxDistinct = Infinity): boolean {
  let kept = true;
  group.count++;
  if (Number.isFinite(value)) {
    group.sum += value;
    if (value < group.min) group.min = value;
    if (value > group.max) group.max = value;
  }
  if (timestamp < group.firstTs) {
    group.firstTs = timestamp;
    group.firstValue = value;
  }
  if (timestamp >= group.lastTs) {
    group.lastTs = timestamp;
    group.lastValue = value;
  }
  if (group.distinct) {
    for (const [field, seen] of group.distinct) {
      const v = fieldOf(field);
      if (v === undefined || v === null) continue;
      const key = typeof v + ':' + String(v);
      if (seen.has(key)) continue;
      if (seen.size >= maxDistinct) kept = false;
      else seen.add(key);
    }
  }
  return kept;
}

export function groupResult(fn: LiveAggregateFn, group: GroupState, distinctField?: string): number {
  switch (fn) {
    case 'count':
      return group.count;
    case 'count_distinct':
      return (distinctField === undefined ? undefined : group.distinct?.get(distinctField)?.size) ?? 0;
    case 'sum':
      return group.sum;
    case 'min':
      return group.count === 0 ? 0 : group.min;
    case 'max':
      return group.count === 0 ? 0 : group.max;
    case 'avg':
      return group.count === 0 ? 0 : group.sum / group.count;
    case 'first':
      return group.firstValue;
    case 'last':
      return group.lastValue;
  }
}
