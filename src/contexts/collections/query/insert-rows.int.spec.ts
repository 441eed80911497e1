import { backends } from '../../../../test/support/databases.js';
import { Database } from '../../../core/database/database.js';
import { parseSql } from '../../../dialects/sql/sql-parser.js';
import { COLLECTIONS_MIGRATIONS } from '../read-model/migrations/index.js';
import type { Insert } from './ast.js';
import { Compiler, type UserParams } from './compiler.js';
import { parseJsonText } from './json-text.js';

/** The documents an INSERT makes in process (insertRowsInline) are the ones its compiled query returns. */
describe.each(backends())('INSERT documents made in process, on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await Database.open(await backend.target(), { migrations: COLLECTIONS_MIGRATIONS });
  });
  afterAll(async () => {
    await db?.close();
    await backend.cleanup();
  });

  const compiler = (params: UserParams) => new Compiler({ catalog: new Map(), snapshot: { kind: 'current' }, params, maxRows: 10 });
  const both = async (q: string, sets: UserParams[]) => {
    const insert = parseSql(q) as Insert;
    const source = insert.source as Extract<Insert['source'], { rows: unknown }>;
    const values = source.kind === 'values';
    const inline = compiler(sets[0]).insertRowsInline(source.rows as never, values, sets);
    const compiled = compiler(sets[0]).insertRowsMany(source.rows as never, values, sets);
    const viaSql = (await db.query(compiled.sql, compiled.params)).map((r) => parseJsonText(r.doc));
    return { inline, viaSql };
  };

  it('plain data: the same documents as the query', async () => {
    const sets: UserParams[] = [
      { positional: [1, 'a', [1, 2.5, null, { x: 'y' }], { nested: { deep: [true, false] } }] },
      { positional: [0, 'é ☃ \u001f "q" \\', 1e-7, 123456789012345.67] },
      { positional: [9007199254740991, '', 0.1 + 0.2, { '@type': 'x' }] },
      { positional: [null, 'x', [], {}] },
    ];
    for (const q of ['INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)', "INSERT INTO t {a: ?, b: ?, c: ?, d: ?, lit: 'it''s', n: 1.50, f: false, arr: [1, 'x', ?], o: {a: ?, a: 2}}"]) {
      const { inline, viaSql } = await both(q, sets.map((s) => ({ positional: [...s.positional!, 7, 8] })));
      expect(inline).toBeDefined();
      expect(inline).toEqual(viaSql);
    }
    const named = await both('INSERT INTO t {a: :a, b: :b}', [{ named: { a: 1, b: { c: [1] } } }, { named: { a: 'z', b: null } }]);
    expect(named.inline).toEqual(named.viaSql);
  });

  it('leaves to the query what the database would change or refuse', async () => {
    const cases: [string, unknown[]][] = [
      ['INSERT INTO t {a: ?}', [{ '@type': 'xsd:dateTime', '@value': '2021-04-09T20:00:00+02:00' }]],
      ['INSERT INTO t {a: ?}', [2 ** 60]],
      ['INSERT INTO t {a: ?}', [[-0]]],
      ['INSERT INTO t {a: ?}', ['\ud83d\ude00']],
      ['INSERT INTO t {a: ?}', [{ k: 'nul\u0000' }]],
      ['INSERT INTO t {a: 1 + ?}', [1]],
      ['INSERT INTO t {...?}', [{ a: 1 }]],
      ["INSERT INTO t {a: DATE '2024-01-01'}", []],
    ];
    for (const [q, p] of cases) {
      const insert = parseSql(q) as Insert;
      const source = insert.source as Extract<Insert['source'], { rows: unknown }>;
      expect(compiler({ positional: p }).insertRowsInline(source.rows as never, source.kind === 'values', [{ positional: p }])).toBeUndefined();
    }
  });

  it('refuses a missing parameter as compiling does', () => {
    const insert = parseSql('INSERT INTO t {a: ?, b: ?}') as Insert;
    const source = insert.source as Extract<Insert['source'], { rows: unknown }>;
    expect(() => compiler({ positional: [1] }).insertRowsInline(source.rows as never, false, [{ positional: [1] }])).toThrow('Missing parameter at index: 1');
    expect(() => compiler({ positional: [1] }).insertRowsMany(source.rows as never, false, [{ positional: [1] }])).toThrow('Missing parameter at index: 1');
  });
});
