import { Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Database } from '../database/database.js';

export type Snapshot = { position: number; state: unknown };

/** Snapshot a state every `every` stored events of its stream. */
export type SnapshotPolicy = { store: SnapshotStore; every: number };

/**
 * How a state becomes JSON and back, so that it can be snapshotted. Bump `version` whenever the JSON's
 * shape or meaning changes: snapshots of any other version are then ignored, and states rebuilt from the log.
 */
export type StateCodec<S> = { kind: string; version: number; encode(state: S): unknown; decode(json: unknown): S };

/** Which snapshots: a codec (its kind and version), or a kind alone (version 0). */
type SnapshotOf = string | Pick<StateCodec<unknown>, 'kind' | 'version'>;

function identify(of: SnapshotOf): { kind: string; version: number } {
  return typeof of === 'string' ? { kind: of, version: 0 } : of;
}

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

  /** The newest snapshot, if the codec version that wrote it is `of`'s: any other would decode wrongly. */
  async load(of: SnapshotOf, streamId: string): Promise<Snapshot | undefined> {
    const { kind, version } = identify(of);
    const [row] = await this.db.query(`SELECT stream_position, state, version FROM snapshots WHERE kind = $1 AND stream_id = $2`, [kind, streamId]);
    return row && row.version === version ? { position: Number(row.stream_position), state: row.state } : undefined;
  }

  /**
   * Stores `state` as of `position` unless a newer snapshot of the same version is there (one of another
   * version is replaced: it is of no use to this code); a failure is logged, not thrown.
   */
  save(of: SnapshotOf, streamId: string, position: number, state: unknown): Promise<void> {
    const { kind, version } = identify(of);
    const saved = this.db
      .query(
        `INSERT INTO snapshots (kind, stream_id, stream_position, state, version) VALUES ($1, $2, $3, $4::jsonb, $5)
         ON CONFLICT (kind, stream_id) DO UPDATE SET stream_position = EXCLUDED.stream_position, state = EXCLUDED.state, version = EXCLUDED.version, taken_at = now()
         WHERE snapshots.stream_position < EXCLUDED.stream_position OR snapshots.version <> EXCLUDED.version`,
        [kind, streamId, position, JSON.stringify(state), version],
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
