import { Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Database } from '../database/database.js';

export type Snapshot = { position: number; state: unknown };

/** Snapshot a state every `every` stored events of its stream. */
export type SnapshotPolicy = { store: SnapshotStore; every: number };

/** How a state becomes JSON and back, so that it can be snapshotted. */
export type StateCodec<S> = { kind: string; encode(state: S): unknown; decode(json: unknown): S };

/**
 * Snapshots of stream states, so that loading a long stream reads only what came after the snapshot.
 * A snapshot is a cache of the log: losing one costs a longer load, never a different state. Saves are
 * fire-and-forget and keep only the newest position, whichever process writes.
 */
export class SnapshotStore implements BeforeApplicationShutdown {
  private readonly logger = new Logger(SnapshotStore.name);
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly db: Database) {}

  /** Waits for the saves already started (before the database closes, and in tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.flush();
  }

  async load(kind: string, streamId: string): Promise<Snapshot | undefined> {
    const [row] = await this.db.query(`SELECT stream_position, state FROM snapshots WHERE kind = $1 AND stream_id = $2`, [kind, streamId]);
    return row ? { position: Number(row.stream_position), state: row.state } : undefined;
  }

  /** Stores `state` as of `position` unless a newer snapshot is there; a failure is logged, not thrown. */
  save(kind: string, streamId: string, position: number, state: unknown): Promise<void> {
    const saved = this.db
      .query(
        `INSERT INTO snapshots (kind, stream_id, stream_position, state) VALUES ($1, $2, $3, $4::jsonb)
         ON CONFLICT (kind, stream_id) DO UPDATE SET stream_position = EXCLUDED.stream_position, state = EXCLUDED.state, taken_at = now()
         WHERE snapshots.stream_position < EXCLUDED.stream_position`,
        [kind, streamId, position, JSON.stringify(state)],
      )
      .then(
        () => undefined,
        (error: Error) => this.logger.warn(`snapshot of ${streamId} (${kind}) at ${position} not saved: ${error.message}`),
      )
      .finally(() => this.pending.delete(saved));
    this.pending.add(saved);
    return saved;
  }
}
