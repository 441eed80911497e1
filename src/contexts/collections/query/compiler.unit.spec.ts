import type { Expr, Select, Span } from './ast.js';
import { Compiler, tablesOf, type Catalog } from './compiler.js';

const pos: Span = { offset: 0, length: 1 };
const ident = (...parts: string[]): Expr => ({ kind: 'ident', parts, pos });
const lit = (value: string | number): Expr => ({ kind: 'literal', value, pos });
const select = (over: Partial<Select>): Select => ({ kind: 'select', distinct: false, items: [], from: [], groupBy: [], orderBy: [], pos, ...over });

describe('collections query compiler', () => {
  const evilTable = `t'; DROP TABLE events; --`;
  const evilColumn = `c" = 1 OR "1`;
  const catalog: Catalog = new Map([[evilTable, new Set([evilColumn, 'n'])]]);
  const compile = (q: Select) => new Compiler({ catalog, snapshot: { kind: 'current' }, params: { positional: [`x' OR '1'='1`] }, maxRows: 10 }).query(q);

  it('puts every table name, column key and value in parameters, never in the SQL text', () => {
    const { sql, params, columns } = compile(
      select({
        items: [{ kind: 'expr', expr: ident(evilColumn), pos }, { kind: 'star', pos }],
        from: [{ kind: 'table', name: evilTable, pos }],
        where: { kind: 'binary', op: 'or', left: { kind: 'binary', op: '=', left: ident(evilColumn), right: { kind: 'param', index: 0, pos }, pos }, right: { kind: 'binary', op: '<', left: ident('n'), right: lit(`'; --`), pos }, pos },
      }),
    );
    for (const fragment of [evilTable, evilColumn, `x' OR`, `'; --`, 'DROP']) expect(sql).not.toContain(fragment);
    expect(params).toEqual(expect.arrayContaining([evilTable, evilColumn, JSON.stringify(`x' OR '1'='1`), JSON.stringify(`'; --`)]));
    expect(columns).toEqual([{ kind: 'named', name: evilColumn }, { kind: 'star' }]);
  });

  it('gives equal expressions one placeholder, so GROUP BY matches the select list', () => {
    const { sql } = compile(select({ items: [{ kind: 'expr', expr: ident('n'), pos }], from: [{ kind: 'table', name: evilTable, pos }], groupBy: [ident('n')] }));
    const key = /SELECT \((t1\.doc -> \$\d+::text)\) AS c0/.exec(sql)?.[1];
    expect(key).toBeDefined();
    expect(sql).toContain(`GROUP BY (${key})`);
  });

  it('refuses unknown tables and columns with their spans, and caps the rows at maxRows + 1', () => {
    const at: Span = { offset: 14, length: 5 };
    expect(() => compile(select({ items: [{ kind: 'star', pos }], from: [{ kind: 'table', name: 'users', pos: at }] }))).toThrow(expect.objectContaining({ message: 'Unknown table: users', pos: at }));
    expect(() => compile(select({ items: [{ kind: 'expr', expr: { ...ident('nope'), pos: at } as Expr, pos }], from: [{ kind: 'table', name: evilTable, pos }] }))).toThrow(
      expect.objectContaining({ message: 'Unknown column: nope', pos: at }),
    );
    const { sql, params } = compile(select({ items: [{ kind: 'expr', expr: lit(1), pos }] }));
    expect(sql).toMatch(/LIMIT \$\d+::bigint/);
    expect(params).toContain(11);
  });

  it('lists the tables a statement reads', () => {
    const q = select({ from: [{ kind: 'join', type: 'inner', left: { kind: 'table', name: 'a', pos }, right: { kind: 'table', name: 'b', pos }, pos }, { kind: 'table', name: 'tables', schema: 'information_schema', pos }] });
    expect([...tablesOf(q)]).toEqual(['a', 'b']);
  });
});
