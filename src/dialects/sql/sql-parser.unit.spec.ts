import type { Expr, Select, Statement } from '../../contexts/collections/query/ast.js';
import { SqlSyntaxError, tokenize } from './sql-lexer.js';
import { parseSql } from './sql-parser.js';
import { sqlReport } from './sql-report.js';

/** The tree without positions, to compare shapes. */
function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k, v]) => k !== 'pos' && k !== 'tablePos' && v !== undefined)
        .map(([k, v]) => [k, strip(v)]),
    );
  }
  return value;
}
const parse = (sql: string) => strip(parseSql(sql)) as any;
const expr = (sql: string) => (parse(`SELECT ${sql}`) as Select).items[0] as any;
const ident = (...parts: string[]) => ({ kind: 'ident', parts });
const lit = (value: unknown) => ({ kind: 'literal', value });

describe('SQL lexer', () => {
  it('reads words, strings with doubled quotes, numbers, parameters, operators, date literals and comments, with offsets', () => {
    const tokens = tokenize(`SELECT 'it''s', 1.5e3, ?, :name, a<>b -- note\n, 2024-01-02, 2024-01-02T10:00:00Z, P1D /* c */ "Q x"`);
    expect(tokens.map((t) => [t.kind, t.text])).toEqual([
      ['ident', 'SELECT'], ['string', "it's"], ['op', ','], ['number', '1.5e3'], ['op', ','], ['param', '?'], ['op', ','], ['named', 'name'], ['op', ','],
      ['ident', 'a'], ['op', '<>'], ['ident', 'b'], ['op', ','], ['date', '2024-01-02'], ['op', ','], ['datetime', '2024-01-02T10:00:00Z'], ['op', ','],
      ['duration', 'P1D'], ['quoted', 'Q x'], ['eof', ''],
    ]);
    expect(tokens[1].offset).toBe(7);
  });

  it('refuses an unterminated string and a stray character, saying where', () => {
    expect(() => tokenize("SELECT 'abc")).toThrow(expect.objectContaining({ message: 'Unterminated string', offset: 7 }));
    expect(() => tokenize('SELECT #')).toThrow(SqlSyntaxError);
  });
});

describe('SQL parser', () => {
  it('SELECT items: *, t.*, expressions with and without aliases', () => {
    expect(parse('SELECT *, u.*, a AS x, b y, 1 FROM users u').items).toEqual([
      { kind: 'star' },
      { kind: 'star', table: 'u' },
      { kind: 'expr', expr: ident('a'), alias: 'x' },
      { kind: 'expr', expr: ident('b'), alias: 'y' },
      { kind: 'expr', expr: lit(1) },
    ]);
  });

  it('paths: a.b, a[\'b\'], a[0], a[-1], and access after a call', () => {
    expect(expr('a.b.c').expr).toEqual(ident('a', 'b', 'c'));
    expect(expr("a['b']").expr).toEqual({ kind: 'access', base: ident('a'), key: lit('b') });
    expect(expr('a[0]').expr).toEqual({ kind: 'access', base: ident('a'), key: lit(0) });
    expect(expr('a[-1]').expr).toEqual({ kind: 'access', base: ident('a'), key: lit(-1) });
    expect(expr('{x: 1}.x').expr).toMatchObject({ kind: 'access', key: lit('x') });
  });

  it('operator precedence: OR < AND < NOT < comparison < || < + < *', () => {
    expect(expr('a OR b AND NOT c = 1 + 2 * 3').expr).toEqual({
      kind: 'binary', op: 'or', left: ident('a'),
      right: { kind: 'binary', op: 'and', left: ident('b'), right: { kind: 'unary', op: 'not', operand: {
        kind: 'binary', op: '=', left: ident('c'), right: { kind: 'binary', op: '+', left: lit(1), right: { kind: 'binary', op: '*', left: lit(2), right: lit(3) } },
      } } },
    });
  });

  it('IN, NOT IN, LIKE, NOT LIKE, BETWEEN, IS [NOT] NULL, IN (subquery)', () => {
    expect(expr('a IN (1, 2)').expr).toEqual({ kind: 'in', operand: ident('a'), list: [lit(1), lit(2)], negated: false });
    expect(expr('a NOT IN (1)').expr).toMatchObject({ kind: 'in', negated: true });
    expect(expr("a NOT LIKE 'x%'").expr).toMatchObject({ kind: 'binary', op: 'not like' });
    expect(expr('a BETWEEN 1 AND 2').expr).toEqual({ kind: 'between', operand: ident('a'), low: lit(1), high: lit(2), negated: false });
    expect(expr('a IS NOT NULL').expr).toEqual({ kind: 'isNull', operand: ident('a'), negated: true });
    expect(expr('a IN (SELECT b FROM t)').expr).toMatchObject({ kind: 'inQuery', query: { kind: 'select' } });
  });

  it('literals: strings, numbers, booleans, null, big integers, date/timestamp/time/duration forms, objects and arrays', () => {
    expect(expr("'x'").expr).toEqual(lit('x'));
    expect(expr('TRUE').expr).toEqual(lit(true));
    expect(expr('NULL').expr).toEqual(lit(null));
    expect(expr('12345678901234567890').expr).toEqual(lit({ '@type': 'xsd:integer', '@value': '12345678901234567890' }));
    expect(expr("DATE '2024-01-01'").expr).toEqual(lit({ '@type': 'xsd:date', '@value': '2024-01-01' }));
    expect(expr("TIMESTAMP '2024-01-01T00:00:00Z'").expr).toEqual(lit({ '@type': 'xsd:dateTime', '@value': '2024-01-01T00:00:00Z' }));
    expect(expr('2024-01-01T10:00:00').expr).toEqual(lit({ '@type': 'xsd:dateTime', '@value': '2024-01-01T10:00:00' }));
    expect(expr('PT1H').expr).toEqual(lit({ '@type': 'xsd:duration', '@value': 'PT1H' }));
    expect(expr("{a: 1, 'b c': [2, 3], d, ...e}").expr).toEqual({
      kind: 'object',
      entries: [{ key: 'a', value: lit(1) }, { key: 'b c', value: { kind: 'array', items: [lit(2), lit(3)] } }, { key: 'd', value: ident('d') }, { spread: ident('e') }],
    });
  });

  it('parameters: ? numbered in order of appearance, :name by name', () => {
    const s = parse('SELECT ?, :x, ?');
    expect(s.items.map((i: any) => i.expr)).toEqual([{ kind: 'param', index: 0 }, { kind: 'param', name: 'x' }, { kind: 'param', index: 1 }]);
  });

  it('calls: count(*), count(DISTINCT a), CAST, CASE, EXISTS, CURRENT_TIMESTAMP', () => {
    expect(expr('count(*)').expr).toEqual({ kind: 'call', name: 'count', args: [], star: true });
    expect(expr('COUNT(DISTINCT a)').expr).toEqual({ kind: 'call', name: 'count', args: [ident('a')], distinct: true });
    expect(expr('CAST(a AS INTEGER)').expr).toEqual({ kind: 'call', name: 'cast', args: [ident('a'), lit('integer')] });
    expect(expr("CASE WHEN a = 1 THEN 'x' ELSE 'y' END").expr).toMatchObject({ kind: 'case', whens: [{ then: lit('x') }], else: lit('y') });
    expect(expr('EXISTS (SELECT 1)').expr).toMatchObject({ kind: 'exists' });
    expect(expr('CURRENT_TIMESTAMP').expr).toEqual({ kind: 'call', name: 'current_timestamp', args: [] });
  });

  it('FROM: joins (inner, left outer, cross), subqueries with aliases, information_schema', () => {
    const s = parse('SELECT * FROM a JOIN b ON a.x = b.y LEFT OUTER JOIN c ON c.z = a.x, (SELECT 1) AS q, information_schema.columns');
    expect(s.from[0]).toMatchObject({ kind: 'join', type: 'left', left: { kind: 'join', type: 'inner', left: { name: 'a' }, right: { name: 'b' } }, right: { name: 'c' } });
    expect(s.from[1]).toMatchObject({ kind: 'subquery', alias: 'q' });
    expect(s.from[2]).toEqual({ kind: 'table', name: 'columns', schema: 'information_schema' });
  });

  it('FOR SYSTEM_TIME AS OF, ALL, BETWEEN … AND …, FROM … TO …, before or after the alias', () => {
    expect(parse('SELECT * FROM t FOR SYSTEM_TIME AS OF 2024-01-01').from[0].systemTime).toEqual({ kind: 'asOf', at: lit({ '@type': 'xsd:date', '@value': '2024-01-01' }) });
    expect(parse('SELECT * FROM t AS x FOR SYSTEM_TIME ALL').from[0]).toEqual({ kind: 'table', name: 't', alias: 'x', systemTime: { kind: 'all' } });
    expect(parse('SELECT * FROM t FOR SYSTEM_TIME BETWEEN ? AND ? WHERE a = 1').from[0].systemTime).toMatchObject({ kind: 'between' });
    expect(parse('SELECT * FROM t FOR SYSTEM_TIME FROM ? TO ?').from[0].systemTime).toMatchObject({ kind: 'fromTo' });
  });

  it('WHERE, GROUP BY, HAVING, ORDER BY (ASC/DESC, NULLS), LIMIT, OFFSET, DISTINCT', () => {
    const s = parse('SELECT DISTINCT a, count(*) FROM t WHERE b > 1 GROUP BY a HAVING count(*) > 1 ORDER BY a DESC NULLS FIRST, 2 LIMIT 10 OFFSET 5');
    expect(s).toMatchObject({ distinct: true, where: { op: '>' }, groupBy: [ident('a')], having: { op: '>' }, limit: lit(10), offset: lit(5) });
    expect(s.orderBy).toEqual([{ expr: ident('a'), descending: true, nulls: 'first' }, { expr: lit(2), descending: false }]);
  });

  it('UNION, UNION ALL, INTERSECT, EXCEPT, with ORDER BY on the whole; VALUES as a query', () => {
    const s = parse('SELECT a FROM t UNION ALL SELECT b FROM u UNION SELECT 1 ORDER BY 1');
    expect(s).toMatchObject({ kind: 'compound', op: 'union', left: { kind: 'compound', op: 'union all' }, orderBy: [{ expr: lit(1) }] });
    expect(parse('SELECT 1 EXCEPT SELECT 2')).toMatchObject({ op: 'except' });
    expect(parse('VALUES (1, 2), (3, 4)')).toEqual({ kind: 'values', rows: [[lit(1), lit(2)], [lit(3), lit(4)]] });
  });

  it('INSERT: objects, OBJECTS ?, (columns) VALUES, SELECT, ON CONFLICT DO NOTHING / DO UPDATE SET … WHERE', () => {
    expect(parse('INSERT INTO t {a: 1, b: {c: 2}}, {a: 2}')).toMatchObject({ kind: 'insert', table: 't', source: { kind: 'objects', rows: [{ kind: 'object' }, { kind: 'object' }] } });
    expect(parse('INSERT INTO t OBJECTS ?').source).toEqual({ kind: 'objects', rows: [{ kind: 'param', index: 0 }] });
    expect(parse('INSERT INTO t (a, b) VALUES (1, 2), (3, ?)')).toMatchObject({ columns: ['a', 'b'], source: { kind: 'values', rows: [[lit(1), lit(2)], [lit(3), { kind: 'param' }]] } });
    expect(parse('INSERT INTO t SELECT * FROM u').source).toMatchObject({ kind: 'query', query: { kind: 'select' } });
    expect(parse('INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING').onConflict).toEqual({ columns: ['a'], action: { kind: 'nothing' } });
    expect(parse('INSERT INTO t {a: 1} ON CONFLICT (a) DO UPDATE SET b = excluded.b WHERE t.b < excluded.b').onConflict).toEqual({
      columns: ['a'],
      action: { kind: 'update', set: [{ target: { path: ['b'] }, value: ident('excluded', 'b') }], where: { kind: 'binary', op: '<', left: ident('t', 'b'), right: ident('excluded', 'b') } },
    });
  });

  it('UPDATE: SET paths, UNSET, PATCH, WHERE', () => {
    expect(parse("UPDATE t SET a = 1, b.c = 'x' WHERE id = 2")).toEqual({
      kind: 'update', table: 't', set: [{ target: { path: ['a'] }, value: lit(1) }, { target: { path: ['b', 'c'] }, value: lit('x') }], unset: [],
      where: { kind: 'binary', op: '=', left: ident('id'), right: lit(2) },
    });
    expect(parse('UPDATE t UNSET a, b').unset).toEqual([{ path: ['a'] }, { path: ['b'] }]);
    expect(parse('UPDATE t PATCH {a: null}').patch).toMatchObject({ kind: 'object' });
  });

  it('DELETE and ERASE with and without WHERE', () => {
    expect(parse('DELETE FROM t WHERE a = 1')).toMatchObject({ kind: 'delete', table: 't', where: { op: '=' } });
    expect(parse('DELETE FROM t')).toEqual({ kind: 'delete', table: 't' });
    expect(parse('ERASE FROM t WHERE a = 1;')).toMatchObject({ kind: 'erase', table: 't' });
  });

  it('transaction control: BEGIN [TRANSACTION], COMMIT, END, ROLLBACK', () => {
    expect(parse('BEGIN TRANSACTION;')).toEqual({ kind: 'begin' });
    expect(parse('COMMIT')).toEqual({ kind: 'commit' });
    expect(parse('END')).toEqual({ kind: 'commit' });
    expect(parse('ROLLBACK')).toEqual({ kind: 'rollback' });
  });

  it('refuses bad statements with the position of the offending token', () => {
    const fail = (sql: string) => {
      try {
        parseSql(sql);
      } catch (error) {
        return error as SqlSyntaxError;
      }
      throw new Error('parsed');
    };
    expect(fail('SELECT * FROM')).toMatchObject({ message: 'Unexpected end of input, expected a table name', offset: 13 });
    expect(fail('SELECT 1 2')).toMatchObject({ offset: 9 });
    expect(fail('SELEC 1')).toMatchObject({ message: "Unexpected 'SELEC', expected a statement", offset: 0 });
    expect(fail('UPDATE t WHERE a = 1').message).toContain('expected SET, UNSET or PATCH');
  });

  it('reports an error in Endb\'s shape, with line and column', () => {
    const sql = 'SELECT *\nFROM users;';
    expect(sqlReport(sql, 'Unknown table: users', { offset: 14, length: 5 }, 'Unknown table')).toBe(
      ['Error: Unknown table: users', '  ╭─[<unknown>:2:6]', '  │', ' 2 │ FROM users;', '  │      ──┬──', '  │        ╰──── Unknown table', '──╯', ''].join('\n'),
    );
  });

  it('keeps spans of nodes for errors found later', () => {
    const s = parseSql('SELECT * FROM   users') as Statement & Select;
    expect((s.from[0] as { pos: unknown }).pos).toEqual({ offset: 16, length: 5 });
    const e = (parseSql('SELECT a + b') as Select).items[0] as { expr: Expr };
    expect(e.expr.pos).toEqual({ offset: 7, length: 5 });
  });
});
