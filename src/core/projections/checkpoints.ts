import type { Database, SqlSession } from '../database/database.js';
import type { LogCheckpoint } from '../event-store/event.js';
import type { Projector } from './projector.js';
import { LOG_START } from './log-position.js';

export type StoredCheckpoint = LogCheckpoint & { version: number };

const COLUMNS = `version, transaction_id::text AS transaction_id, global_position`;

function toStored(row: Record<string, any>): StoredCheckpoint {
  return { version: Number(row.version), transactionId: row.transaction_id, globalPosition: Number(row.global_position) };
}

/** The projection_checkpoints table: one row per projector, moved in the same transaction as its tables. */
export class Checkpoints {
  constructor(private readonly db: Database) {}

  /** The projector's row, created at the start of the log for a projector seen for the first time. */
  async ensure(projector: Projector): Promise<StoredCheckpoint> {
    await this.db.query(`INSERT INTO projection_checkpoints (name, version) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [
      projector.name,
      projector.version,
    ]);
    return (await this.read(projector.name))!;
  }

  async read(name: string, session: SqlSession = this.db): Promise<StoredCheckpoint | undefined> {
    const [row] = await session.query(`SELECT ${COLUMNS} FROM projection_checkpoints WHERE name = $1`, [name]);
    return row ? toStored(row) : undefined;
  }

  /** Locks the row for the rest of `tx`: writers of one projector's tables take turns, whichever process they run in. */
  async lock(tx: SqlSession, name: string): Promise<StoredCheckpoint | undefined> {
    const [row] = await tx.query(`SELECT ${COLUMNS} FROM projection_checkpoints WHERE name = $1 FOR UPDATE`, [name]);
    return row ? toStored(row) : undefined;
  }

  async move(tx: SqlSession, name: string, to: LogCheckpoint): Promise<void> {
    await tx.query(`UPDATE projection_checkpoints SET transaction_id = $2::xid8, global_position = $3, updated_at = now() WHERE name = $1`, [
      name,
      to.transactionId,
      to.globalPosition,
    ]);
  }

  /** Empties the projector's tables (and what its `reset` empties) and puts it back at the start of the log, at `version`. */
  async reset(tx: SqlSession, projector: Projector): Promise<void> {
    if (projector.tables.length > 0) await tx.query(`TRUNCATE ${projector.tables.map((t) => `"${t.replace(/"/g, '""')}"`).join(', ')}`);
    await projector.reset?.(tx);
    await tx.query(
      `UPDATE projection_checkpoints SET version = $2, transaction_id = $3::xid8, global_position = $4, updated_at = now() WHERE name = $1`,
      [projector.name, projector.version, LOG_START.transactionId, LOG_START.globalPosition],
    );
  }
}
