import { backends } from '../../../../test/support/databases.js';
import { Database } from '../../../core/database/database.js';
import { EventStore } from '../../../core/event-store/event-store.js';
import { EventFeed } from '../../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../../core/projections/projection-runtime.js';
import { parseSql } from '../../../dialects/sql/sql-parser.js';
import { SqlConflictError } from '../domain/sql-error.js';
import { isQuery } from '../query/ast.js';
import { tablesReadBy, type UserParams } from '../query/compiler.js';
import { collectionsProjector } from '../read-model/collections-projector.js';
import { COLLECTIONS_MIGRATIONS } from '../read-model/migrations/index.js';
import { DEFAULT_SQL_ENGINE_OPTIONS, SqlEngine } from './sql-engine.js';

/** Blind INSERTs (group-committed, no table turn), bulk INSERTs made in few queries, subqueries anywhere. */
describe.each(backends())('SQL writes on $name', (backend) => {
  let db: Database;
  let store: EventStore;
  let runtime: ProjectionRuntime;
  let engine: SqlEngine;

  beforeAll(async () => {
    db = await Database.open(await backend.target(), { migrations: COLLECTIONS_MIGRATIONS });
    store = new EventStore(db);
    runtime = new ProjectionRuntime(db, store, new EventFeed());
    runtime.register(collectionsProjector);
    await runtime.start();
    engine = new SqlEngine(db, store, DEFAULT_SQL_ENGINE_OPTIONS);
  });
  afterAll(async () => {
    engine?.stop();
    await runtime?.stop();
    await store?.drain();
    await db?.close();
    await backend.cleanup();
  });

  const toParams = (p: unknown): UserParams => (Array.isArray(p) ? { positional: p } : { named: p as Record<string, unknown> });
  const run = (q: string, p: unknown = [], session?: string, many = false) => {
    const statement = parseSql(q);
    if (isQuery(statement) && !many) return engine.query(statement, toParams(p), session);
    return engine.execute(statement, many ? (p as unknown[]).map(toParams) : [toParams(p)], session);
  };
  const value = async (q: string, p: unknown = []) => (await run(q, p)).rows[0][0];

  it('finds the tables a statement reads wherever a subquery sits', () => {
    expect([...tablesReadBy(parseSql('INSERT INTO t {a: 1, b: ?}'))]).toEqual([]);
    expect([...tablesReadBy(parseSql('INSERT INTO t {a: coalesce((SELECT max(n) FROM u), 0), b: [(SELECT 1 FROM t)]}'))].sort()).toEqual(['t', 'u']);
    expect([...tablesReadBy(parseSql('INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO NOTHING'))]).toEqual(['t']);
    expect([...tablesReadBy(parseSql('UPDATE t SET n = (SELECT count(*) FROM u) WHERE id = 1'))].sort()).toEqual(['t', 'u']);
    expect([...tablesReadBy(parseSql('SELECT CASE WHEN x THEN (SELECT 1 FROM a) END FROM b ORDER BY (SELECT 2 FROM c) LIMIT 1'))].sort()).toEqual(['a', 'b', 'c']);
  });

  it('subqueries in INSERT rows and SET values see their tables', async () => {
    await run("INSERT INTO src {n: 3}, {n: 5}");
    await run('INSERT INTO dst {m: (SELECT max(n) FROM src), c: coalesce((SELECT count(*) FROM src), 0)}');
    expect((await run('SELECT m, c FROM dst')).rows).toEqual([[5, 2]]);
    await run('UPDATE dst SET m = (SELECT min(n) FROM src)');
    expect(await value('SELECT m FROM dst')).toBe(3);
  });

  it('concurrent auto-commit INSERTs all land, one version each, none refused', async () => {
    const n = 60;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => run('INSERT INTO crowd (i, name) VALUES (?, ?)', [i, `n${i}`])));
    expect(results.every((r) => r.rows[0][0] === 1 && r.changed)).toBe(true);
    expect(await value('SELECT count(*) FROM crowd')).toBe(n);
    expect(await value('SELECT count(DISTINCT i) FROM crowd')).toBe(n);
    const [{ version }] = await db.query(`SELECT version FROM collection_tables WHERE tbl = 'crowd'`);
    expect(Number(version)).toBe(n);
  });

  it('a transaction that read a table conflicts with an INSERT committed after its BEGIN', async () => {
    await run('INSERT INTO watched {a: 1}');
    await run('BEGIN', [], 'tx1');
    expect(await run('SELECT count(*) FROM watched', [], 'tx1')).toMatchObject({ rows: [[1]] });
    await run('INSERT INTO elsewhere {b: 1}', [], 'tx1');
    await run('INSERT INTO watched {a: 2}');
    await expect(run('COMMIT', [], 'tx1')).rejects.toBeInstanceOf(SqlConflictError);
    await expect(run('SELECT * FROM elsewhere')).rejects.toThrow('Unknown table: elsewhere');
  });

  it('bulk INSERTs, in process or compiled, in several queries when large, with the per-set documents', async () => {
    const n = 11_000;
    const sets = Array.from({ length: n }, (_, i) => [i, `x${i}`, `y${i}`]);
    expect((await run('INSERT INTO bulk_plain (i, s, t) VALUES (?, ?, ?)', sets, undefined, true)).rows).toEqual([[n]]);
    // `? + 0` is computed by the database: 3 fresh values a set, 33,000 placeholders, so two queries
    expect((await run('INSERT INTO bulk_sql {i: ? + 0, s: ?, t: ?}', sets, undefined, true)).rows).toEqual([[n]]);
    for (const table of ['bulk_plain', 'bulk_sql']) {
      expect((await run(`SELECT count(*), sum(i), count(DISTINCT s) FROM ${table}`)).rows).toEqual([[n, (n * (n - 1)) / 2, n]]);
      expect((await run(`SELECT s, t FROM ${table} WHERE i = ?`, [n - 1])).rows).toEqual([[`x${n - 1}`, `y${n - 1}`]]);
    }
    const err = await run('INSERT INTO bulk_bad {i: ?, j: ?}', [[1, 2], [3]], undefined, true).then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe('Missing parameter at index: 1');
    await expect(run('SELECT * FROM bulk_bad')).rejects.toThrow('Unknown table: bulk_bad');
  });
});
