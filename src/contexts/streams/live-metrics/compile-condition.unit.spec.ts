import { instantiate, type JsonValue } from '../../../core/query/index.js';
import type { MetricCondition } from '../metrics/domain/metric-query.js';
import { addToGroup, groupResult, newGroup } from './aggregation.js';
import { conditionExpression, equalityIndexOf } from './compile-condition.js';

const point = (dimensions: Record<string, string | number>, tags: Record<string, string | number> = {}, value = 1, timestamp = 1000) => ({ timestamp, value, dimensions, tags });

function matches(condition: MetricCondition, record: ReturnType<typeof point>): boolean {
  const runtime = instantiate({ source: 's', operators: [{ op: 'where', condition: conditionExpression(condition) }] });
  return runtime.push(record as unknown as JsonValue, { offset: 1, time: 0 }).length > 0;
}

describe('live metric conditions on the core query engine', () => {
  it('reads timestamp and value as the point’s own fields, any other name as its dimension, else its tag', () => {
    expect(matches({ kind: 'compare', field: 'value', operator: '>', value: 0 }, point({}, {}, 1))).toBe(true);
    expect(matches({ kind: 'compare', field: 'timestamp', operator: '<=', value: 999 }, point({}))).toBe(false);
    expect(matches({ kind: 'compare', field: 'host', operator: '=', value: 'a' }, point({ host: 'a' }))).toBe(true);
    expect(matches({ kind: 'compare', field: 'region', operator: '=', value: 'eu' }, point({}, { region: 'eu' }))).toBe(true);
    expect(matches({ kind: 'between', field: 'n', low: 2, high: 4 }, point({ n: 4 }))).toBe(true);
    expect(matches({ kind: 'between', field: 'n', low: 2, high: 4 }, point({ n: 5 }))).toBe(false);
    expect(matches({ kind: 'is_null', field: 'gone' }, point({ host: 'a' }))).toBe(true);
    expect(matches({ kind: 'not', condition: { kind: 'is_null', field: 'host' } }, point({ host: 'a' }))).toBe(true);
    const either: MetricCondition = { kind: 'or', left: { kind: 'compare', field: 'host', operator: '=', value: 'a' }, right: { kind: 'compare', field: 'host', operator: '=', value: 'b' } };
    expect([matches(either, point({ host: 'b' })), matches(either, point({ host: 'c' }))]).toEqual([true, false]);
  });

  it('matches NSDb LIKE ($ = any run of characters, case-sensitive)', () => {
    const like = (pattern: string, value: string | number) => matches({ kind: 'like', field: 'h', pattern }, point({ h: value }));
    expect([like('ab$', 'abc'), like('ab$', 'xab'), like('$bc', 'abc'), like('$b$', 'abc'), like('a$c', 'abbc'), like('a$c', 'ac'), like('a$c', 'ab')]).toEqual([true, false, true, true, true, true, false]);
    expect([like('a$b$c', 'axbyc'), like('a$b$c', 'axyc'), like('abc', 'abc'), like('ab$', 'ABc'), like('1$', 12)]).toEqual([true, false, true, false, false]);
  });

  it('finds the tag equality a query can be indexed by', () => {
    const eq = { kind: 'compare', field: 'host', operator: '=', value: 'a' } as const;
    expect(equalityIndexOf(eq)).toEqual({ field: 'host', value: 'a' });
    expect(equalityIndexOf({ kind: 'and', left: { kind: 'compare', field: 'value', operator: '>', value: 1 }, right: eq })).toEqual({ field: 'host', value: 'a' });
    expect(equalityIndexOf({ kind: 'compare', field: 'value', operator: '=', value: 1 })).toBeUndefined();
    expect(equalityIndexOf({ kind: 'or', left: eq, right: eq })).toBeUndefined();
    expect(equalityIndexOf({ kind: 'not', condition: eq })).toBeUndefined();
  });

  it('aggregates incrementally: count, sum, min, max, avg, first, last, count(distinct)', () => {
    const group = newGroup(['host']);
    for (const [value, ts, host] of [[3, 20, 'a'], [1, 10, 'b'], [5, 30, 'a']] as const) addToGroup(group, value, ts, (f) => (f === 'host' ? host : undefined));
    expect(['count', 'sum', 'min', 'max', 'avg', 'first', 'last'].map((fn) => groupResult(fn as 'count', group))).toEqual([3, 9, 1, 5, 3, 1, 5]);
    expect(groupResult('count_distinct', group, 'host')).toBe(2);
  });
});
