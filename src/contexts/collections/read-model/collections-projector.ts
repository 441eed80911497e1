import type { SqlSession } from '../../../core/database/database.js';
import type { RecordedEvent } from '../../../core/event-store/event.js';
import type { Projector } from '../../../core/projections/projector.js';
import { COLLECTION_EVENT_TYPES, COLLECTION_STREAM_PREFIX, type CollectionEvent } from '../domain/collection.events.js';

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
    await tx.query(`SELECT pg_advisory_xact_lock(${COLLECTIONS_CLOCK_LOCK})`);
    const transactions = [...new Set(events.map((e) => e.transactionId))];
    // A live append is one transaction, without a tick yet; a rebuild replays transactions that have theirs.
    for (const transactionId of transactions) {
      await tx.query(
        `INSERT INTO collection_ticks (transaction_id, system_time)
         SELECT $1::xid8, greatest(clock_timestamp(), (SELECT max(system_time) FROM collection_ticks) + interval '1 microsecond')
         WHERE NOT EXISTS (SELECT 1 FROM collection_ticks WHERE transaction_id = $1::xid8)`,
        [transactionId],
      );
    }
    for (const recorded of events) await apply(tx, recorded as unknown as RecordedEvent<CollectionEvent>);
  },
};

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
    case 'RowsErased':
      await tx.query(`DELETE FROM collection_rows WHERE tbl = $1 AND row_id = ANY($2::text[])`, [table, event.data.ids]);
      break;
  }
  await tx.query(
    `INSERT INTO collection_tables (tbl, version, changed_at, created_at) VALUES ($1, $2, ${tick(3)}, ${tick(3)})
     ON CONFLICT (tbl) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at`,
    [table, event.streamPosition, xid],
  );
}
