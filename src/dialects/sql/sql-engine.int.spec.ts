import { backends } from '../../../test/support/databases.js';
import { SqlEngine, DEFAULT_SQL_ENGINE_OPTIONS } from '../../contexts/collections/application/sql-engine.js';
import { SqlConflictError, SqlError } from '../../contexts/collections/domain/sql-error.js';
import { isQuery } from '../../contexts/collections/query/ast.js';
import type { UserParams } from '../../contexts/collections/query/compiler.js';
import { collectionsProjector } from '../../contexts/collections/read-model/collections-projector.js';
import { COLLECTIONS_MIGRATIONS } from '../../contexts/collections/read-model/migrations/index.js';
import { Database } from '../../core/database/database.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { EventFeed } from '../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../core/projections/projection-runtime.js';
import { parseSql } from './sql-parser.js';

/** The dialect's statements, parsed here, run by the collections' engine over a real database. */
describe.each(backends())('SQL statements on $name', (backend) => {
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
    engine = new SqlEngine(db, store, { ...DEFAULT_SQL_ENGINE_OPTIONS, maxResultRows: 50, transactionTimeoutMs: 300 });
  });
  afterAll(async () => {
    engine?.stop();
    await runtime?.stop();
    await store?.drain();
    await db?.close();
    await backend.cleanup();
  });

  const toParams = (p: unknown): UserParams => (Array.isArray(p) ? { positional: p } : { named: p as Record<string, unknown> });
  const run = async (q: string, p: unknown = [], session?: string, many = false) => {
    const statement = parseSql(q);
    if (isQuery(statement) && !many) return engine.query(statement, toParams(p), session);
    return engine.execute(statement, many ? (p as unknown[]).map(toParams) : [toParams(p)], session);
  };
  const rows = async (q: string, p: unknown = [], session?: string) => {
    const r = await run(q, p, session);
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
  };
  const failure = (q: string, p: unknown = [], session?: string) => run(q, p, session).then(() => undefined, (e: Error) => e);

  it('inserts objects, VALUES and OBJECTS ?, and names columns as Endb does', async () => {
    expect(await run("INSERT INTO users {name: 'Ann', age: 30, address: {city: 'Oslo'}}, {name: 'Bo', tags: ['x', 'y']}")).toMatchObject({ columns: ['result'], rows: [[2]], changed: true });
    expect((await run('INSERT INTO users (name, age) VALUES (?, ?), (?, ?)', ['Cy', 41, 'Di', 25])).rows).toEqual([[2]]);
    expect((await run('INSERT INTO users OBJECTS ?', [{ name: 'Ed', age: 19 }])).rows).toEqual([[1]]);
    const all = await run('SELECT * FROM users ORDER BY name');
    expect(all.columns).toEqual(['address', 'age', 'name', 'tags']);
    expect(all.rows[0]).toEqual([{ city: 'Oslo' }, 30, 'Ann', null]);
    const named = await run("SELECT name, address.city, tags[0], tags[-1], address['city'] AS c, age + 1, :x FROM users WHERE name = 'Ann' OR name = 'Bo' ORDER BY name", { x: 7 });
    expect(named.columns).toEqual(['name', 'city', 'column3', 'column4', 'c', 'column6', 'x']);
    expect(named.rows).toEqual([
      ['Ann', 'Oslo', null, null, 'Oslo', 31, 7],
      ['Bo', null, 'x', 'y', null, null, 7],
    ]);
    expect((await run('SELECT 1, 2 + 3, ?', ['p'])).rows).toEqual([[1, 5, 'p']]);
  });

  it('filters, orders, pages, groups, joins, distinct and unions', async () => {
    const names = async (where: string, p: unknown = []) => (await run(`SELECT name FROM users WHERE ${where} ORDER BY name`, p)).rows.map((r) => r[0]);
    expect(await names('age > 20 AND age <= 30')).toEqual(['Ann', 'Di']);
    expect(await names('NOT (age >= 25) OR name IN (?, ?)', ['Bo', 'Cy'])).toEqual(['Bo', 'Cy', 'Ed']);
    expect(await names("name LIKE '_o%' OR name NOT LIKE '%'")).toEqual(['Bo']);
    expect(await names('age IS NULL')).toEqual(['Bo']);
    expect(await names('age IS NOT NULL AND age BETWEEN 19 AND 26')).toEqual(['Di', 'Ed']);
    expect((await run('SELECT name FROM users ORDER BY age DESC LIMIT 2 OFFSET 1')).rows).toEqual([['Ann'], ['Di']]);
    expect((await run('SELECT name FROM users ORDER BY age DESC NULLS FIRST LIMIT 1')).rows).toEqual([['Bo']]);
    await run("INSERT INTO orders {user: 'Ann', total: 10}, {user: 'Ann', total: 5}, {user: 'Cy', total: 7}");
    expect(await rows('SELECT user, count(*) AS n, sum(total) AS s, avg(total), min(total), max(total) FROM orders GROUP BY user HAVING count(*) > 1')).toEqual([
      { user: 'Ann', n: 2, s: 15, column4: 7.5, column5: 5, column6: 10 },
    ]);
    expect((await run('SELECT count(*), count(DISTINCT user) FROM orders')).rows).toEqual([[3, 2]]);
    expect((await run('SELECT u.name, o.total FROM users u JOIN orders o ON o.user = u.name ORDER BY o.total')).rows).toEqual([['Ann', 5], ['Cy', 7], ['Ann', 10]]);
    expect((await run("SELECT u.name, o.total FROM users u LEFT JOIN orders o ON o.user = u.name WHERE u.name IN ('Bo', 'Cy') ORDER BY u.name")).rows).toEqual([['Bo', null], ['Cy', 7]]);
    expect((await run('SELECT DISTINCT user FROM orders ORDER BY user')).rows).toEqual([['Ann'], ['Cy']]);
    expect((await run("SELECT name FROM users WHERE name = 'Ann' UNION SELECT user FROM orders ORDER BY 1")).rows).toEqual([['Ann'], ['Cy']]);
    expect((await run("SELECT name FROM users WHERE name = 'Ann' UNION ALL SELECT user FROM orders WHERE total > 6 ORDER BY 1")).rows).toEqual([['Ann'], ['Ann'], ['Cy']]);
    expect((await run('SELECT name FROM users WHERE name IN (SELECT user FROM orders) ORDER BY name')).rows).toEqual([['Ann'], ['Cy']]);
  });

  it('updates with SET, PATCH (RFC 7386) and UNSET, deletes, and upserts with ON CONFLICT', async () => {
    await run("INSERT INTO items {sku: 'a', qty: 1, meta: {color: 'red', size: 'S'}}, {sku: 'b', qty: 2}");
    expect((await run("UPDATE items SET qty = qty + 10, meta.color = 'blue' WHERE sku = 'a'")).rows).toEqual([[1]]);
    expect((await run("UPDATE items PATCH {meta: {size: null, shape: 'round'}, note: 'n'} WHERE sku = 'a'")).rows).toEqual([[1]]);
    expect((await run("UPDATE items UNSET note WHERE sku = 'a'")).rows).toEqual([[1]]);
    expect(await rows("SELECT * FROM items WHERE sku = 'a'")).toEqual([{ meta: { color: 'blue', shape: 'round' }, qty: 11, sku: 'a' }]);
    expect((await run("INSERT INTO items {sku: 'b', qty: 99}, {sku: 'c', qty: 3} ON CONFLICT (sku) DO NOTHING")).rows).toEqual([[1]]);
    expect((await run("INSERT INTO items (sku, qty) VALUES ('b', 5), ('d', 4) ON CONFLICT (sku) DO UPDATE SET qty = items.qty + excluded.qty")).rows).toEqual([[2]]);
    expect((await run('SELECT sku, qty FROM items ORDER BY sku')).rows).toEqual([['a', 11], ['b', 7], ['c', 3], ['d', 4]]);
    expect((await run("DELETE FROM items WHERE sku IN ('c', 'd')")).rows).toEqual([[2]]);
    expect((await run('SELECT sku FROM items ORDER BY sku')).rows).toEqual([['a'], ['b']]);
    expect((await run("DELETE FROM items WHERE sku = 'zz'")).rows).toEqual([[0]]);
  });

  it('travels in time: AS OF, ALL, BETWEEN, and the hidden system_time column; ERASE leaves no history', async () => {
    await run("INSERT INTO prices {item: 'tea', price: 1}");
    const [[first]] = (await run("SELECT system_time FROM prices WHERE item = 'tea'")).rows as [[{ start: { '@value': string }; end: { '@value': string } }]];
    expect(first.end['@value']).toBe('9999-01-01T00:00:00.000000Z');
    await new Promise((r) => setTimeout(r, 5));
    await run("UPDATE prices SET price = 2 WHERE item = 'tea'");
    const at = first.start['@value'];
    expect((await run('SELECT price FROM prices FOR SYSTEM_TIME AS OF ?', [{ '@type': 'xsd:dateTime', '@value': at }])).rows).toEqual([[1]]);
    expect((await run('SELECT price FROM prices')).rows).toEqual([[2]]);
    expect((await run('SELECT price FROM prices FOR SYSTEM_TIME ALL ORDER BY price')).rows).toEqual([[1], [2]]);
    expect((await run('SELECT price FROM prices FOR SYSTEM_TIME BETWEEN ? AND ? ORDER BY price', [{ '@type': 'xsd:dateTime', '@value': at }, { '@type': 'xsd:dateTime', '@value': '9000-01-01T00:00:00Z' }])).rows).toEqual([[1], [2]]);
    expect((await run('SELECT price FROM prices FOR SYSTEM_TIME AS OF 2000-01-01')).rows).toEqual([]);
    expect((await run('SELECT p.*, p.system_time FROM prices p')).columns).toEqual(['item', 'price', 'system_time']);
    await run("DELETE FROM prices WHERE item = 'tea'");
    expect((await run('SELECT price FROM prices')).rows).toEqual([]);
    expect((await run('SELECT price FROM prices FOR SYSTEM_TIME ALL')).rows.length).toBe(2);
    await run("INSERT INTO secrets {k: 'a'}, {k: 'b'}");
    await run("UPDATE secrets SET v = 1 WHERE k = 'a'");
    expect((await run("ERASE FROM secrets WHERE k = 'a'")).rows).toEqual([[1]]);
    expect((await run('SELECT k FROM secrets FOR SYSTEM_TIME ALL')).rows).toEqual([['b']]);
    // Gone from the log too, so no rebuild brings it back; the events stay, positions and all.
    const logged = await db.query<{ type: string; data: { rows?: { doc: { k: string } }[] } }>(`SELECT type, data FROM events WHERE stream_id LIKE '%secrets' ORDER BY global_position`);
    expect(logged.map((e) => e.type)).toEqual(['RowsInserted', 'RowsUpdated', 'RowsErased']);
    expect(logged.flatMap((e) => e.data.rows ?? []).map((r) => r.doc.k)).toEqual(['b']);
    await runtime.rebuild(collectionsProjector.name);
    expect((await run('SELECT k FROM secrets FOR SYSTEM_TIME ALL')).rows).toEqual([['b']]);
  });

  it('knows tables and columns: information_schema, Unknown table, Unknown column with their spans', async () => {
    expect(await rows("SELECT table_name FROM information_schema.tables WHERE table_name = 'users'")).toEqual([{ table_name: 'users' }]);
    expect((await run("SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name")).rows).toEqual([['address'], ['age'], ['name'], ['tags']]);
    expect(await failure('SELECT * FROM nobody')).toMatchObject({ message: 'Unknown table: nobody', pos: { offset: 14, length: 6 }, label: 'Unknown table' });
    expect(await failure('SELECT nope FROM users')).toMatchObject({ message: 'Unknown column: nope', pos: { offset: 7, length: 4 } });
    expect(await failure('UPDATE nobody SET a = 1')).toBeInstanceOf(SqlError);
    expect(await failure('SELECT frob(1)')).toMatchObject({ message: 'Unknown built-in function: frob' });
    expect(await failure('SELECT ?')).toMatchObject({ message: 'Missing parameter at index: 0' });
  });

  it('never lets a value or a name reach the SQL text', async () => {
    const evil = "x'); DROP TABLE collection_rows; --";
    await run(`INSERT INTO "${evil.replace(/"/g, '""')}" {"${evil}": ?, k: '${evil.replace(/'/g, "''")}'}`, [evil]);
    const back = await run(`SELECT * FROM "${evil}" WHERE k = ?`, [evil]);
    expect(back.rows).toEqual([[evil, evil]]);
    expect((await run("SELECT name FROM users WHERE name = ? OR 1 = 1 AND name = 'none'", ["Ann' OR '1'='1"])).rows).toEqual([]);
    expect((await run('SELECT count(*) FROM users')).rows).toEqual([[5]]);
  });

  it('bounds a result, and runs a bulk statement atomically', async () => {
    expect(await failure('SELECT * FROM users, orders, items, prices FOR SYSTEM_TIME ALL')).toMatchObject({ message: 'Result too large: more than 50 rows' });
    expect((await run('INSERT INTO bulk {n: ?}', [[1], [2], [3]], undefined, true)).rows).toEqual([[3]]);
    expect(await run('INSERT INTO bulk {n: ?}', [[4], []], undefined, true).catch((e) => e)).toBeInstanceOf(SqlError);
    expect((await run('SELECT n FROM bulk ORDER BY n')).rows).toEqual([[1], [2], [3]]);
    expect((await run('SELECT * FROM bulk WHERE n = :n', { n: 2 })).rows).toEqual([[2]]);
  });

  it('transactions: own writes and a stable snapshot inside; invisible outside until COMMIT; ROLLBACK leaves nothing', async () => {
    await run("INSERT INTO acct {id: 1, bal: 100}, {id: 2, bal: 0}");
    expect((await run('BEGIN', [], 's1')).rows).toEqual([[true]]);
    expect(await failure('BEGIN TRANSACTION', [], 's1')).toMatchObject({ message: 'Cannot nest transactions' });
    await run('UPDATE acct SET bal = bal - 30 WHERE id = 1', [], 's1');
    await run('UPDATE acct SET bal = bal + 30 WHERE id = 2', [], 's1');
    await run('INSERT INTO acct {id: 3, bal: 1}', [], 's1');
    expect((await run('SELECT id, bal FROM acct ORDER BY id', [], 's1')).rows).toEqual([[1, 70], [2, 30], [3, 1]]);
    expect((await run('SELECT id, bal FROM acct ORDER BY id')).rows).toEqual([[1, 100], [2, 0]]);
    expect((await run('COMMIT', [], 's1')).rows).toEqual([[true]]);
    expect((await run('SELECT id, bal FROM acct ORDER BY id')).rows).toEqual([[1, 70], [2, 30], [3, 1]]);
    expect(await failure('COMMIT', [], 's1')).toMatchObject({ message: 'No active transaction' });

    await run('BEGIN', [], 's1');
    await run('DELETE FROM acct', [], 's1');
    await run("INSERT INTO fresh {a: 1}", [], 's1');
    expect((await run('SELECT count(*) FROM acct', [], 's1')).rows).toEqual([[0]]);
    expect((await run('ROLLBACK', [], 's1')).rows).toEqual([[true]]);
    expect((await run('ROLLBACK', [], 's1')).rows).toEqual([[true]]);
    expect((await run('SELECT count(*) FROM acct')).rows).toEqual([[3]]);
    expect(await failure('SELECT * FROM fresh')).toMatchObject({ message: 'Unknown table: fresh' });
    expect(await failure('BEGIN')).toMatchObject({ message: 'Explicit transactions not supported' });
  });

  it('transactions conflict when a table they touched changed since BEGIN; the loser changes nothing', async () => {
    await run('BEGIN', [], 'a');
    await run('BEGIN', [], 'b');
    // b's snapshot stays put while a commits.
    await run('UPDATE acct SET bal = 0 WHERE id = 3', [], 'a');
    await run('UPDATE acct SET bal = 5 WHERE id = 3', [], 'b');
    await run('COMMIT', [], 'a');
    expect((await run('SELECT bal FROM acct WHERE id = 3', [], 'b')).rows).toEqual([[5]]);
    expect(await failure('COMMIT', [], 'b')).toBeInstanceOf(SqlConflictError);
    expect((await run('SELECT bal FROM acct WHERE id = 3')).rows).toEqual([[0]]);
    // A read-only transaction over a table that changed conflicts too (serializable, per table).
    await run('BEGIN', [], 'c');
    await run('SELECT * FROM acct', [], 'c');
    await run('UPDATE acct SET bal = 9 WHERE id = 3');
    expect(await failure('COMMIT', [], 'c')).toBeInstanceOf(SqlConflictError);
    // Auto-commit statements racing on one table all land (they retry).
    await Promise.all(Array.from({ length: 8 }, (_, i) => run('INSERT INTO race {i: ?}', [i])));
    expect((await run('SELECT count(*) FROM race')).rows).toEqual([[8]]);
  });

  it('rolls back a transaction open longer than its limit, and says so once', async () => {
    await run('BEGIN', [], 'slow');
    await run('INSERT INTO late {a: 1}', [], 'slow');
    await new Promise((r) => setTimeout(r, 400));
    expect(await failure('COMMIT', [], 'slow')).toMatchObject({ message: expect.stringContaining('Transaction rolled back') });
    expect(await failure('COMMIT', [], 'slow')).toMatchObject({ message: 'No active transaction' });
    expect(await failure('SELECT * FROM late')).toMatchObject({ message: 'Unknown table: late' });
    engine.closeSession('slow');
  });

  it('keeps date-times, dates, durations and big integers', async () => {
    await run('INSERT INTO typed {at: ?, d: DATE \'2024-02-03\', span: PT2H, big: ?}', [
      { '@type': 'xsd:dateTime', '@value': '2024-01-29T18:18:30.129159Z' },
      { '@type': 'xsd:integer', '@value': '123456789012345678901' },
    ]);
    const [row] = (await run('SELECT at, d, span, big, at + span AS later, at < 2025-01-01 AS before FROM typed')).rows;
    expect(row).toEqual([
      { '@type': 'xsd:dateTime', '@value': '2024-01-29T18:18:30.129159Z' },
      { '@type': 'xsd:date', '@value': '2024-02-03' },
      { '@type': 'xsd:duration', '@value': 'PT2H' },
      { '@type': 'xsd:integer', '@value': '123456789012345678901' },
      { '@type': 'xsd:dateTime', '@value': '2024-01-29T20:18:30.129159Z' },
      true,
    ]);
  });

  it('a read compiled with a cached catalog sees the columns and tables another server changed since', async () => {
    // `other` stands for a second server on the same database: its writes change the catalog behind `engine`'s cache.
    const other = new SqlEngine(db, store);
    const viaOther = (q: string, p: unknown[] = []) => other.execute(parseSql(q), [toParams(p)]);
    await run("INSERT INTO cached_a {id: 1, x: 'a'}");
    await run("INSERT INTO cached_b {id: 1, y: 'b'}");
    expect((await run('SELECT * FROM cached_a WHERE id = ?', [1])).columns).toEqual(['id', 'x']);
    expect((await run('SELECT y FROM cached_a a JOIN cached_b b ON a.id = b.id')).rows).toEqual([['b']]);
    // values spelled inline in the one-round-trip read stay values
    await run('INSERT INTO cached_a {id: 9, x: ?}', ["it's; SELECT 1 --"]);
    expect((await run('SELECT id FROM cached_a WHERE x = ?', ["it's; SELECT 1 --"])).rows).toEqual([[9]]);
    expect((await run("SELECT id FROM cached_a WHERE x = 'it''s; SELECT 1 --'")).rows).toEqual([[9]]);

    await viaOther("INSERT INTO cached_a {id: 2, x: 'c', extra: true}");
    expect(await run('SELECT * FROM cached_a WHERE id = ?', [2])).toMatchObject({ columns: ['extra', 'id', 'x'], rows: [[true, 2, 'c']] });
    await viaOther("INSERT INTO cached_b {id: 2, x: 'shadow'}");
    // x is now a column of both tables: the unqualified name resolves as a fresh catalog says, not as the cache did.
    const fresh = new SqlEngine(db, store);
    const join = 'SELECT x FROM cached_a a JOIN cached_b b ON a.id = b.id ORDER BY a.id';
    const expected = await fresh.query(parseSql(join) as never, toParams([])).then((r) => r, (e: Error) => e.message);
    expect(await run(join).then((r) => r, (e: Error) => e.message)).toEqual(expected);

    expect(await failure('SELECT * FROM cached_c WHERE id = ?', [1])).toBeInstanceOf(SqlError);
    await viaOther("INSERT INTO cached_c {id: 3, z: 'new'}");
    expect(await run('SELECT * FROM cached_c WHERE id = ?', [3])).toMatchObject({ columns: ['id', 'z'], rows: [[3, 'new']] });
  });

  it('the read model rebuilt from the log equals the live one, history and system times included', async () => {
    const dump = () => db.query(`SELECT tbl, row_id, doc::text AS doc, sys_from::text AS f, sys_to::text AS t FROM collection_rows ORDER BY tbl, row_id, sys_from`);
    const tables = () => db.query(`SELECT tbl, version::int AS v, changed_at::text AS c FROM collection_tables ORDER BY tbl`);
    const live = await dump();
    const liveTables = await tables();
    expect(live.length).toBeGreaterThan(20);
    await runtime.rebuild(collectionsProjector.name);
    expect(await dump()).toEqual(live);
    expect(await tables()).toEqual(liveTables);
  });
});
