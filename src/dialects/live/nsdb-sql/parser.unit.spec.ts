import { describe, expect, it } from '@jest/globals';
import { canonicalKey, formatNsdb, normalizeSelect, NSDB_RULES, NsdbParseError, parseNsdb, parseNsdbSelect, resolveTerm, type NsdbSelect } from './index.js';

const select = (q: string) => parseNsdbSelect(q);
const reason = (q: string): string => {
  try {
    parseNsdb(q);
  } catch (e) {
    expect(e).toBeInstanceOf(NsdbParseError);
    return (e as NsdbParseError).reason;
  }
  throw new Error(`parsed: ${q}`);
};

describe('NSDb SQL: SELECT', () => {
  it('parses * and a limit, keywords in any case, an optional semicolon', () => {
    expect(select('select * from metric limit 1')).toEqual({ kind: 'select', metric: 'metric', distinct: false, fields: '*', limit: 1 });
    expect(select('SeLeCt * FrOm metric LiMiT 1;')).toEqual(select('select * from metric limit 1'));
  });

  it('parses a field list and DISTINCT on one field', () => {
    expect(select('SELECT value, host FROM m').fields).toEqual([{ name: 'value' }, { name: 'host' }]);
    expect(select('SELECT DISTINCT host FROM m')).toMatchObject({ distinct: true, fields: [{ name: 'host' }] });
  });

  it('parses every aggregation', () => {
    for (const agg of ['count', 'sum', 'min', 'max', 'avg']) expect(select(`SELECT ${agg.toUpperCase()}(value) FROM m`).fields).toEqual([{ name: 'value', aggregation: agg }]);
    expect(select('select count(*) from m').fields).toEqual([{ name: '*', aggregation: 'count' }]);
    expect(select('select count(distinct host) from m').fields).toEqual([{ name: 'host', aggregation: 'count_distinct' }]);
    expect(select('select first(value) from m group by host').fields).toEqual([{ name: 'value', aggregation: 'first' }]);
    expect(select('select last(*) from m group by host').fields).toEqual([{ name: '*', aggregation: 'last' }]);
    expect(select('select count(*), sum(value) from m').fields).toHaveLength(2);
  });

  it('parses GROUP BY a tag and GROUP BY INTERVAL in every unit', () => {
    expect(select('select sum(value) from m group by host').groupBy).toEqual({ kind: 'tag', field: 'host' });
    const interval = (q: string) => (select(q).groupBy as { intervalMs: number }).intervalMs;
    expect(interval('select count(*) from m group by interval 2d')).toBe(2 * 86_400_000);
    expect(interval('select count(*) from m group by interval 3h')).toBe(3 * 3_600_000);
    expect(interval('select count(*) from m group by interval 5 m')).toBe(300_000);
    expect(interval('select count(*) from m group by interval 5 min')).toBe(300_000);
    expect(interval('select count(*) from m group by interval 10s')).toBe(10_000);
    expect(interval('select count(*) from m group by interval 250ms')).toBe(250);
    expect(interval('select count(*) from m group by interval hour')).toBe(3_600_000);
  });

  it('parses ORDER BY [ASC|DESC], SINCE and LIMIT', () => {
    expect(select('select * from m order by timestamp desc limit 10')).toMatchObject({ orderBy: { field: 'timestamp', descending: true }, limit: 10 });
    expect(select('select * from m order by host asc').orderBy).toEqual({ field: 'host', descending: false });
    expect(select('select count(*) from m group by interval 1m since 10s').gracePeriodMs).toBe(10_000);
  });

  it('parses the comparisons, with numbers, strings and now', () => {
    const where = (q: string) => select(`select * from m where ${q}`).where;
    expect(where('value >= 1.5')).toEqual({ kind: 'comparison', field: 'value', operator: '>=', value: { kind: 'literal', value: 1.5 } });
    for (const op of ['=', '>', '<', '<=']) expect(where(`x ${op} -3`)).toMatchObject({ operator: op, value: { value: -3 } });
    expect(where('host = my-host.1')).toMatchObject({ value: { kind: 'literal', value: 'my-host.1' } });
    expect(where("host = 'a b'")).toMatchObject({ value: { value: 'a b' } });
    expect(where("host = 'it''s'")).toMatchObject({ value: { value: "it's" } });
    expect(where('host = 10-a')).toMatchObject({ value: { value: '10-a' } });
    expect(where('timestamp > now - 2h')).toMatchObject({ value: { kind: 'now', offsetMs: -7_200_000 } });
    expect(where('timestamp < now+1d')).toMatchObject({ value: { kind: 'now', offsetMs: 86_400_000 } });
    expect(where('timestamp < now-30s')).toMatchObject({ value: { kind: 'now', offsetMs: -30_000 } });
    expect(where('timestamp <= now')).toMatchObject({ value: { kind: 'now', offsetMs: 0 } });
    expect(where('host != a')).toEqual({ kind: 'not', expression: { kind: 'comparison', field: 'host', operator: '=', value: { kind: 'literal', value: 'a' } } });
    expect(where('host <> a')).toEqual(where('host != a'));
  });

  it('parses IN as a range, LIKE with $, IS [NOT] NULL', () => {
    const where = (q: string) => select(`select * from m where ${q}`).where;
    expect(where('timestamp in (2, 4)')).toEqual({ kind: 'range', field: 'timestamp', low: { kind: 'literal', value: 2 }, high: { kind: 'literal', value: 4 } });
    expect(where('timestamp IN (now - 1h, now)')).toMatchObject({ kind: 'range', low: { kind: 'now' }, high: { kind: 'now' } });
    expect(where('host like $end')).toEqual({ kind: 'like', field: 'host', pattern: '$end' });
    expect(where("host LIKE 'a $'")).toEqual({ kind: 'like', field: 'host', pattern: 'a $' });
    expect(where('host is null')).toEqual({ kind: 'null', field: 'host' });
    expect(where('host IS NOT NULL')).toEqual({ kind: 'not', expression: { kind: 'null', field: 'host' } });
  });

  it('chains AND/OR to the right with no precedence, NOT binds to the next condition, brackets group', () => {
    const where = (q: string) => select(`select * from m where ${q}`).where;
    const a = { kind: 'comparison', field: 'a', operator: '=', value: { kind: 'literal', value: 1 } };
    const b = { kind: 'comparison', field: 'b', operator: '=', value: { kind: 'literal', value: 2 } };
    const c = { kind: 'comparison', field: 'c', operator: '=', value: { kind: 'literal', value: 3 } };
    expect(where('a = 1 and b = 2 or c = 3')).toEqual({ kind: 'and', left: a, right: { kind: 'or', left: b, right: c } });
    expect(where('(a = 1 and b = 2) or c = 3')).toEqual({ kind: 'or', left: { kind: 'and', left: a, right: b }, right: c });
    expect(where('not a = 1 or b = 2')).toEqual({ kind: 'or', left: { kind: 'not', expression: a }, right: b });
    expect(where('not (a = 1 or b = 2)')).toEqual({ kind: 'not', expression: { kind: 'or', left: a, right: b } });
  });

  it('resolves now against a clock', () => {
    const where = select('select * from m where timestamp > now - 2s').where as { value: Parameters<typeof resolveTerm>[0] };
    expect(resolveTerm(where.value, 10_000)).toBe(8_000);
  });
});

describe('NSDb SQL: INSERT, DELETE, DROP', () => {
  it('parses an insert with and without TS, DIM, TAGS', () => {
    expect(parseNsdb("INSERT INTO m TS = 1522232017 DIM ( d1 = 1, d2 = 'my String' ) TAGS (t = x-1) VAL = 1.5")).toEqual({
      kind: 'insert', metric: 'm', timestamp: 1522232017, dimensions: { d1: 1, d2: 'my String' }, tags: { t: 'x-1' }, value: 1.5,
    });
    expect(parseNsdb('insert into m val=2')).toEqual({ kind: 'insert', metric: 'm', dimensions: {}, tags: {}, value: 2 });
  });

  it('parses delete with a condition and drop metric', () => {
    expect(parseNsdb('DELETE FROM m WHERE NOT timestamp >= 2 OR timestamp < 4')).toMatchObject({ kind: 'delete', metric: 'm', where: { kind: 'or' } });
    expect(parseNsdb('drop metric m')).toEqual({ kind: 'drop', metric: 'm' });
  });
});

describe('NSDb SQL: errors', () => {
  it('explains syntax errors with a position', () => {
    expect(reason('')).toMatch(/^expected SELECT, INSERT, DELETE or DROP/);
    expect(reason('update m set a = 1')).toMatch(/^expected SELECT, INSERT, DELETE or DROP, found 'update/);
    expect(reason('select from m')).toMatch(/expected a field or an aggregation/);
    expect(reason('select * m')).toMatch(/^expected FROM, found 'm'/);
    expect(reason('select * from')).toMatch(/expected a metric name, found the end of the statement/);
    expect(reason('select * from 1m')).toMatch(/expected a metric name/);
    expect(reason('select * from m where')).toMatch(/expected a condition/);
    expect(reason('select * from m where a')).toMatch(/expected a comparison/);
    expect(reason('select * from m where a > b')).toMatch(/expected a number or now/);
    expect(reason('select * from m where a = 1 and')).toMatch(/expected a condition/);
    expect(reason('select * from m where (a = 1')).toMatch(/expected '\)'/);
    expect(reason('select * from m where t > now - 2y')).toMatch(/expected a time unit/);
    expect(reason('select * from m where t in (1)')).toMatch(/expected ','/);
    expect(reason("select * from m where a = 'x")).toBe('unterminated string');
    expect(reason("select * from m where a = 'x\u0000'")).toBe('a string must not contain NUL characters');
    expect(reason('select * from m where a = x\u0000')).toMatch(/^unexpected text/);
    expect(reason('select * from m limit x')).toMatch(/expected a limit/);
    expect(reason('select * from m limit 0')).toBe('limit must be a positive integer');
    expect(reason('select * from m limit 1 extra')).toMatch(/^unexpected text, found 'extra'/);
    expect(reason('select * from m group host')).toMatch(/expected GROUP BY/);
    expect(reason('select count(*) from m group by interval 0s')).toMatch(/interval must be positive/);
    expect(reason('insert into m dim(a=1)')).toMatch(/expected VAL/);
    expect(reason('insert into m val = x')).toMatch(/expected a number/);
    expect(reason('insert into m dim(a=1, a=2) val=1')).toMatch(/'a' is assigned twice/);
    expect(reason('delete from m')).toMatch(/expected WHERE/);
    expect(reason('drop m')).toMatch(/expected METRIC/);
    const e = (() => {
      try {
        parseNsdb('select * m');
      } catch (err) {
        return err as NsdbParseError;
      }
    })()!;
    expect(e.position).toBe(9);
    expect(e.message).toBe("expected FROM, found 'm' at position 9");
  });

  it("reproduces NSDb's rules on aggregations and groupings", () => {
    expect(reason('select sum(distinct value) from m')).toBe(NSDB_RULES.DISTINCT_ONLY_COUNT);
    expect(reason('select host from m group by host')).toBe(NSDB_RULES.NO_AGGREGATION_GROUP_BY);
    expect(reason('select * from m group by host')).toBe(NSDB_RULES.NO_AGGREGATION_GROUP_BY);
    expect(reason('select sum(value), max(value) from m group by host')).toBe(NSDB_RULES.MORE_FIELDS_GROUP_BY);
    expect(reason('select distinct sum(value) from m group by host')).toBe(NSDB_RULES.GROUP_BY_DISTINCT);
    expect(reason('select sum(value) from m group by host order by other')).toBe(NSDB_RULES.SORT_DIMENSION_NOT_IN_GROUP);
    expect(select('select sum(value) from m group by host order by host').orderBy).toEqual({ field: 'host', descending: false });
    expect(select('select sum(value) from m group by host order by value desc').orderBy).toEqual({ field: 'value', descending: true });
    expect(reason('select first(value) from m')).toBe(NSDB_RULES.NO_GROUP_BY_AGGREGATION);
    expect(reason('select last(value) from m')).toBe(NSDB_RULES.NO_GROUP_BY_AGGREGATION);
    expect(reason('select distinct a, b from m')).toBe(NSDB_RULES.MORE_FIELDS_DISTINCT);
    expect(reason('select distinct * from m')).toBe(NSDB_RULES.MORE_FIELDS_DISTINCT);
    expect(reason('select count(*), count(value) from m')).toBe(NSDB_RULES.MULTIPLE_COUNT_AGGREGATIONS);
    expect(reason('select * from m since 10s')).toBe(NSDB_RULES.GRACE_PERIOD_NOT_ALLOWED);
    expect(reason('select sum(value) from m group by host since 10s')).toBe(NSDB_RULES.GRACE_PERIOD_NOT_ALLOWED);
  });

  it('parseNsdbSelect refuses other statements', () => {
    expect(() => parseNsdbSelect('drop metric m')).toThrow('not a select statement');
  });
});

describe('NSDb SQL: canonical form', () => {
  const queries = [
    'select * from metric limit 1',
    "SELECT count(*) FROM m WHERE a = my-v.1 and not b like $x$ or t in (now - 2h, now) GROUP BY INTERVAL 2 h",
    'select sum(value) from m group by host order by value desc limit 3',
    "select distinct host from m where host = 'a ''b' and x is not null",
    "insert into m ts=10 dim(a=1, b='x y') tags(t=ok) val=1.5",
    'delete from m where timestamp in (2,4)',
    'drop metric m',
  ];

  it('parses its canonical text back to the same statement', () => {
    for (const q of queries) {
      const parsed = parseNsdb(q);
      expect(formatNsdb(parseNsdb(formatNsdb(parsed)))).toBe(formatNsdb(parsed));
    }
  });

  it('gives one key to texts differing in whitespace, keyword case and brackets only', () => {
    const a = select('select * from m where host = a and value > 1 limit 5') as NsdbSelect;
    const b = select('SELECT   *\n FROM m   WHERE (host = \'a\') AND (value>1) LIMIT 5;') as NsdbSelect;
    expect(normalizeSelect(a, 'db', 'ns')).toBe(normalizeSelect(b, 'db', 'ns'));
    expect(canonicalKey(a, 'db', 'ns')).toBe(normalizeSelect(a, 'db', 'ns'));
    expect(normalizeSelect(a, 'db', 'ns')).not.toBe(normalizeSelect(a, 'db', 'other'));
    expect(normalizeSelect(a)).not.toBe(normalizeSelect(select('select * from m where host = A and value > 1 limit 5')));
    expect(normalizeSelect(a)).not.toBe(normalizeSelect(select('select * from m where host = a and value > 1 limit 6')));
  });
});
