import { backends } from '../../../../test/support/databases.js';
import { Database } from '../../../core/database/database.js';
import { EventStore } from '../../../core/event-store/event-store.js';
import { EventFeed } from '../../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../../core/projections/projection-runtime.js';
import { collectionStreamId, type CollectionEvent } from '../domain/collection.events.js';
import { collectionsProjector } from './collections-projector.js';
import { COLLECTIONS_MIGRATIONS } from './migrations/index.js';

describe.each(backends())('collections read model on $name', (backend) => {
  let db: Database;
  let store: EventStore;
  let runtime: ProjectionRuntime;

  beforeAll(async () => {
    db = await Database.open(await backend.target(), { migrations: COLLECTIONS_MIGRATIONS });
    store = new EventStore(db);
    runtime = new ProjectionRuntime(db, store, new EventFeed());
    runtime.register(collectionsProjector);
    await runtime.start();
  });
  afterAll(async () => {
    await runtime?.stop();
    await store?.drain();
    await db?.close();
    await backend.cleanup();
  });

  const append = (table: string, expected: number | 'no_stream', events: CollectionEvent[]) => store.append(collectionStreamId(table), expected, events);
  const dump = () =>
    db.query(`SELECT tbl, row_id, doc, sys_from::text AS sys_from, sys_to::text AS sys_to FROM collection_rows ORDER BY tbl, row_id, sys_from`);

  it('keeps every version with its system time in the append itself, and a rebuild from the log gives the same rows and history', async () => {
    await append('people', 'no_stream', [{ type: 'RowsInserted', data: { table: 'people', rows: [{ id: 'a', doc: { name: 'Ann' } }, { id: 'b', doc: { name: 'Bo' } }] } }]);
    // Visible at once: the projector ran inside the append's transaction.
    expect(await db.query(`SELECT count(*)::int AS n FROM collection_rows WHERE sys_to = 'infinity'`)).toEqual([{ n: 2 }]);
    await append('people', 1, [{ type: 'RowsUpdated', data: { table: 'people', rows: [{ id: 'a', doc: { name: 'Ann', age: 3 } }] } }]);
    await append('people', 2, [{ type: 'RowsDeleted', data: { table: 'people', ids: ['b'] } }]);
    await append('pets', 'no_stream', [{ type: 'RowsInserted', data: { table: 'pets', rows: [{ id: 'p', doc: { kind: 'cat' } }, { id: 'q', doc: { kind: 'dog' } }] } }]);
    await append('pets', 1, [{ type: 'RowsErased', data: { table: 'pets', ids: ['q'] } }]);

    const live = await dump();
    expect(live.map((r) => [r.tbl, r.row_id, r.doc, r.sys_to === 'infinity'])).toEqual([
      ['people', 'a', { name: 'Ann' }, false],
      ['people', 'a', { name: 'Ann', age: 3 }, true],
      ['people', 'b', { name: 'Bo' }, false],
      ['pets', 'p', { kind: 'cat' }, true],
    ]);
    // A version ends exactly when the next begins.
    expect(live[0].sys_to).toBe(live[1].sys_from);
    const tables = await db.query(`SELECT tbl, version::int AS version, changed_at::text AS changed_at FROM collection_tables ORDER BY tbl`);
    expect(tables.map((t) => [t.tbl, t.version])).toEqual([['people', 3], ['pets', 2]]);
    expect((await db.query(`SELECT col FROM collection_columns WHERE tbl = 'people' ORDER BY col`)).map((r) => r.col)).toEqual(['age', 'name']);

    await runtime.rebuild(collectionsProjector.name);
    expect(await dump()).toEqual(live);
    expect(await db.query(`SELECT tbl, version::int AS version, changed_at::text AS changed_at FROM collection_tables ORDER BY tbl`)).toEqual(tables);
  });

  it('stamps concurrent commits with system times that rise in commit order', async () => {
    const writers = Array.from({ length: 20 }, (_, i) =>
      append(`race${i % 4}`, 'no_stream', [{ type: 'RowsInserted', data: { table: `race${i % 4}`, rows: [{ id: `r${i}`, doc: { i } }] } }]).catch(() => undefined),
    );
    await Promise.all(writers);
    const ticks = await db.query(`SELECT transaction_id::text AS x, system_time::text AS t FROM collection_ticks ORDER BY system_time`);
    expect(new Set(ticks.map((t) => t.t)).size).toBe(ticks.length);
    // Every row carries its own transaction's stamp, never a later one than its table's last change.
    const rows = await db.query(
      `SELECT count(*)::int AS n FROM collection_rows r JOIN collection_tables t USING (tbl) WHERE r.tbl LIKE 'race%' AND r.sys_from > t.changed_at`,
    );
    expect(rows).toEqual([{ n: 0 }]);
  });
});
