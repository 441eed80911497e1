import { sqlLiteral, type SqlSession } from '../../../core/database/database.js';
import type { RecordedEvent } from '../../../core/event-store/event.js';
import { redactEvents } from '../../../core/event-store/redaction.js';
import type { Projector } from '../../../core/projections/projector.js';
import { COLLECTION_EVENT_TYPES, COLLECTION_STREAM_PREFIX, type CollectionEvent, type RowsInserted } from '../domain/collection.events.js';

/** The key of the transaction-level advisory lock every collections commit takes before stamping its time. */
export const COLLECTIONS_CLOCK_LOCK = 7_260_311_001;

/** The system time of the transaction `$n` names (its tick, stamped once). */
const tick = (n: number) => `(SELECT system_time FROM collection_ticks WHERE transaction_id = $${n}::xid8)`;

/**
 * Keeps `collection_rows` (every version of every row) inline, in the append's transaction: a statement
 * sees every acknowledged write. Each transaction that changes a collection gets one system time, taken
 * under an advisory lock held until its commit, so system times rise in commit order and AS OF t sees
 * exactly the commits stamped at or before t. A rebuild replays the log with the ticks it recorded.
 */
export const collectionsProjector: Projector = {
  name: 'collections',
  version: 1,
  mode: 'inline',
  selection: { streamPrefixes: [COLLECTION_STREAM_PREFIX], eventTypes: COLLECTION_EVENT_TYPES },
  tables: ['collection_rows', 'collection_tables', 'collection_columns'],
  async handle(tx: SqlSession, events: readonly RecordedEvent[]) {
    // One round trip: the lock, then (each statement of a simple query with a snapshot of its own, taken
    // once the lock is held) a tick for each transaction: a live append is one, without a tick yet; a
    // rebuild replays transactions that have theirs.
    const transactions = [...new Set(events.map((e) => e.transactionId))];
    const ticks = transactions.map((transactionId) => {
      if (!/^\d+$/.test(transactionId)) throw new Error(`not a transaction id: ${transactionId}`);
      return `INSERT INTO collection_ticks (transaction_id, system_time)
         SELECT '${transactionId}'::xid8, greatest(clock_timestamp(), (SELECT max(system_time) FROM collection_ticks) + interval '1 microsecond')
         WHERE NOT EXISTS (SELECT 1 FROM collection_ticks WHERE transaction_id = '${transactionId}'::xid8)`;
    });
    const opening = [`SELECT pg_advisory_xact_lock(${COLLECTIONS_CLOCK_LOCK})`, ...ticks];
    // Group-committed INSERTs (the hot path): their rows go in that same round trip, which is the COMMIT's
    // when the append offers it (nothing after them in the transaction reads these tables; the lock is then
    // held only for that round trip).
    if (events.every((e) => e.type === 'RowsInserted')) {
      const sql = [...opening, insertAllSql(events as unknown as readonly RecordedEvent<RowsInserted>[])].join(';\n');
      if (tx.defer) tx.defer(sql);
      else await tx.query(sql);
      return;
    }
    await tx.query(opening.join(';\n'));
    // A run of RowsInserted (group-committed INSERTs, a replay) is one statement, however many events.
    let inserted: RecordedEvent<RowsInserted>[] = [];
    for (const recorded of events as unknown as readonly RecordedEvent<CollectionEvent>[]) {
      if (recorded.type === 'RowsInserted') {
        inserted.push(recorded as RecordedEvent<RowsInserted>);
        continue;
      }
      if (inserted.length > 0) await insertAll(tx, inserted);
      inserted = [];
      await apply(tx, recorded);
    }
    if (inserted.length > 0) await insertAll(tx, inserted);
  },
};

/**
 * Consecutive RowsInserted events (new rows only, so their order among themselves does not matter), in one
 * statement: the rows, the columns they bring, and each table's version and time (that of its last event).
 */
async function insertAll(tx: SqlSession, events: readonly RecordedEvent<RowsInserted>[]): Promise<void> {
  await tx.query(insertAllSql(events));
}

/** That statement with its values as literals, so it can share a simple-protocol round trip. */
function insertAllSql(events: readonly RecordedEvent<RowsInserted>[]): string {
  const rows = JSON.stringify(events.flatMap((e) => e.data.rows.map((r) => ({ t: e.data.table, x: e.transactionId, id: r.id, doc: r.doc }))));
  // An upsert cannot touch a row twice: each table once.
  const last = new Map<string, RecordedEvent<RowsInserted>>();
  for (const e of events) last.set(e.data.table, e);
  const tables = [...last.values()];
  const array = (values: string[], type: string) => `ARRAY[${values.join(', ')}]::${type}[]`;
  return `WITH r AS (SELECT r->>'t' AS tbl, r->>'x' AS xid, r->>'id' AS row_id, r->'doc' AS doc FROM jsonb_array_elements(${sqlLiteral(rows)}::jsonb) r),
     inserted AS (
       INSERT INTO collection_rows (tbl, row_id, doc, sys_from)
       SELECT r.tbl, r.row_id, r.doc, k.system_time FROM r JOIN collection_ticks k ON k.transaction_id = r.xid::xid8),
     columns AS (
       INSERT INTO collection_columns (tbl, col) SELECT DISTINCT r.tbl, c FROM r, jsonb_object_keys(r.doc) c ON CONFLICT DO NOTHING)
     INSERT INTO collection_tables (tbl, version, changed_at, created_at)
     SELECT v.tbl, v.version, k.system_time, k.system_time
     FROM unnest(${array(tables.map((e) => sqlLiteral(e.data.table)), 'text')}, ${array(tables.map((e) => String(Number(e.streamPosition))), 'bigint')},
                 ${array(tables.map((e) => sqlLiteral(e.transactionId)), 'xid8')}) AS v(tbl, version, xid)
       JOIN collection_ticks k ON k.transaction_id = v.xid
     ON CONFLICT (tbl) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at`;
}

async function apply(tx: SqlSession, event: RecordedEvent<CollectionEvent>): Promise<void> {
  const xid = event.transactionId;
  const table = event.data.table;
  switch (event.type) {
    case 'RowsInserted':
    case 'RowsUpdated': {
      const rows = JSON.stringify(event.data.rows);
      if (event.type === 'RowsUpdated') {
        await tx.query(
          `UPDATE collection_rows SET sys_to = ${tick(3)}
           WHERE tbl = $1 AND sys_to = 'infinity' AND row_id IN (SELECT r->>'id' FROM jsonb_array_elements($2::jsonb) r)`,
          [table, rows, xid],
        );
      }
      await tx.query(
        `INSERT INTO collection_rows (tbl, row_id, doc, sys_from) SELECT $1, r->>'id', r->'doc', ${tick(3)} FROM jsonb_array_elements($2::jsonb) r`,
        [table, rows, xid],
      );
      await tx.query(
        `INSERT INTO collection_columns (tbl, col)
         SELECT DISTINCT $1::text, k FROM jsonb_array_elements($2::jsonb) r, jsonb_object_keys(r->'doc') k ON CONFLICT DO NOTHING`,
        [table, rows],
      );
      break;
    }
    case 'RowsDeleted':
      await tx.query(`UPDATE collection_rows SET sys_to = ${tick(3)} WHERE tbl = $1 AND sys_to = 'infinity' AND row_id = ANY($2::text[])`, [
        table,
        event.data.ids,
        xid,
      ]);
      break;
    case 'RowsErased': {
      await tx.query(`DELETE FROM collection_rows WHERE tbl = $1 AND row_id = ANY($2::text[])`, [table, event.data.ids]);
      // Gone from every time means from the log too: the rows' documents leave the events that carried them.
      const erased = new Set(event.data.ids);
      await redactEvents(tx, event.streamId, ['RowsInserted', 'RowsUpdated'], (data) => {
        const rows = (data as RowsInserted['data']).rows;
        return rows.some((r) => erased.has(r.id)) ? { ...(data as object), rows: rows.filter((r) => !erased.has(r.id)) } : undefined;
      });
      break;
    }
  }
  await tx.query(
    `INSERT INTO collection_tables (tbl, version, changed_at, created_at) VALUES ($1, $2, ${tick(3)}, ${tick(3)})
     ON CONFLICT (tbl) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at`,
    [table, event.streamPosition, xid],
  );
}
