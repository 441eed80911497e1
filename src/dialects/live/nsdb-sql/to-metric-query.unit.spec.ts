import { describe, expect, it } from '@jest/globals';
import { checkQueryBounds, parseNsdbSelect, toMetricSelection } from './index.js';

describe('NSDb SELECT → MetricSelection', () => {
  it('resolves now, keeps every clause, ANDs filters and from/to after the WHERE', () => {
    const select = parseNsdbSelect('select sum(value) from m where timestamp > now - 2s and host != a group by region order by value desc limit 3');
    expect(toMetricSelection(select, { from: 1, to: 9, filters: [{ dimension: 'x', operator: 'ISNOTNULL' }, { dimension: 'y', operator: 'LIKE', value: 'a$' }] }, 10_000)).toEqual({
      fields: [{ name: 'value', aggregation: 'sum' }],
      distinct: false,
      where: {
        kind: 'and',
        left: {
          kind: 'and',
          left: { kind: 'compare', field: 'timestamp', operator: '>', value: 8000 },
          right: { kind: 'not', condition: { kind: 'compare', field: 'host', operator: '=', value: 'a' } },
        },
        right: {
          kind: 'and',
          left: { kind: 'not', condition: { kind: 'is_null', field: 'x' } },
          right: {
            kind: 'and',
            left: { kind: 'like', field: 'y', pattern: 'a$' },
            right: { kind: 'and', left: { kind: 'compare', field: 'timestamp', operator: '>=', value: 1 }, right: { kind: 'compare', field: 'timestamp', operator: '<=', value: 9 } },
          },
        },
      },
      groupBy: { kind: 'tag', field: 'region' },
      orderBy: { field: 'value', descending: true },
      limit: 3,
    });
    expect(toMetricSelection(parseNsdbSelect('select count(*) from m where t in (now - 1m, now) group by interval 1h'), {}, 100_000)).toEqual({
      fields: [{ name: '*', aggregation: 'count' }],
      distinct: false,
      where: { kind: 'between', field: 't', low: 40_000, high: 100_000 },
      groupBy: { kind: 'interval', intervalMs: 3_600_000 },
    });
    expect(toMetricSelection(parseNsdbSelect('select * from m'))).toEqual({ fields: '*', distinct: false });
  });

  it('checks from, to and filters as sent', () => {
    expect(checkQueryBounds({})).toEqual({ bounds: {} });
    expect(checkQueryBounds({ from: 1, to: null, filters: [{ dimension: 'a', value: 1, operator: '>=' }, { dimension: 'b', operator: 'isnull' }] })).toEqual({
      bounds: { from: 1, filters: [{ dimension: 'a', value: 1, operator: '>=' }, { dimension: 'b', operator: 'ISNULL' }] },
    });
    expect(checkQueryBounds({ from: 'x' }).error).toMatch(/^from must be/);
    expect(checkQueryBounds({ filters: {} }).error).toMatch(/^filters must be an array/);
    expect(checkQueryBounds({ filters: [{ dimension: 'a', operator: '!' }] }).error).toMatch(/operator must be one of/);
    expect(checkQueryBounds({ filters: [{ dimension: '1a', operator: '=' , value: 1 }] }).error).toMatch(/dimension must be a field name/);
    expect(checkQueryBounds({ filters: [{ dimension: 'a', operator: '=' }] }).error).toMatch(/value must be a string or a number/);
    expect(checkQueryBounds({ filters: [{ dimension: 'a', operator: 'LIKE', value: 1 }] }).error).toMatch(/LIKE must be a string/);
  });
});
