import { randomUUID } from 'node:crypto';
import type { Database, Row } from '../database/database.js';
import { GroupCommitter, type GroupCommitOptions } from './group-commit.js';
import type { AppendResult, Event, ExpectedVersion, LogCheckpoint, RecordedEvent, StreamAppend } from './event.js';

export type EventStoreOptions = Partial<GroupCommitOptions> & { nodeId?: string };

export type ReadStreamOptions = { after?: number; limit?: number };
export type ReadLogOptions = { limit?: number; excludeNode?: string };
/** `scanned` counts rows read, including those filtered out by `excludeNode`. */
export type LogPage = { events: RecordedEvent[]; checkpoint: LogCheckpoint; scanned: number };

const PAYLOAD_COLUMNS = ['stream_id', 'stream_position', 'type', 'data', 'metadata', 'created_at'];
const EVENT_COLUMNS = `global_position, transaction_id::text AS transaction_id, ${PAYLOAD_COLUMNS.join(', ')}`;

/** The append-only log: typed appends with expected-version checks, stream reads and a tail-safe log read. */
export class EventStore {
  readonly nodeId: string;
  private readonly committer: GroupCommitter;

  constructor(
    readonly db: Database,
    options: EventStoreOptions = {},
  ) {
    this.nodeId = options.nodeId ?? randomUUID();
    this.committer = new GroupCommitter(db, this.nodeId, {
      maxBatchEvents: options.maxBatchEvents ?? 2000,
      maxQueuedAppends: options.maxQueuedAppends ?? 50_000,
      concurrency: db.kind === 'pglite' ? 1 : (options.concurrency ?? 2),
    });
  }

  async append<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[]): Promise<AppendResult> {
    const [result] = await this.committer.submit([{ streamId, expected, events }]);
    return result;
  }

  /** Appends to several streams in one transaction: all of them, or (on any conflict) none. */
  appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    return this.committer.submit(appends);
  }

  async readStream(streamId: string, { after = 0, limit = 1_000_000 }: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const rows = await this.db.query(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_position > $2
       ORDER BY stream_position LIMIT $3`,
      [streamId, after, limit],
    );
    return rows.map(toRecorded);
  }

  async streamPosition(streamId: string): Promise<number> {
    const [row] = await this.db.query(
      `SELECT stream_position FROM events WHERE stream_id = $1 ORDER BY stream_position DESC LIMIT 1`,
      [streamId],
    );
    return row ? Number(row.stream_position) : 0;
  }

  /**
   * Events after `checkpoint`, ordered by (xid, position), and only from transactions older than every
   * transaction still running: an event whose transaction commits late is never skipped.
   */
  async readLog(checkpoint: LogCheckpoint, { limit = 1000, excludeNode }: ReadLogOptions = {}): Promise<LogPage> {
    // Excluded rows still move the checkpoint, so they come back too, but without their payload.
    const rows = await this.db.query(
      `SELECT global_position, transaction_id::text AS transaction_id, node_id IS NOT DISTINCT FROM $4 AS excluded,
         ${PAYLOAD_COLUMNS.map((c) => `CASE WHEN node_id IS DISTINCT FROM $4 THEN ${c} END AS ${c}`).join(', ')}
       FROM events
       WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
         AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY transaction_id, global_position LIMIT $3`,
      [checkpoint.transactionId, checkpoint.globalPosition, limit, excludeNode ?? null],
    );
    const last = rows.at(-1);
    return {
      events: rows.filter((r) => !r.excluded).map(toRecorded),
      checkpoint: last ? { transactionId: last.transaction_id, globalPosition: Number(last.global_position) } : checkpoint,
      scanned: rows.length,
    };
  }

  /** The checkpoint of the newest event a tailing reader may already trust. */
  async logHead(): Promise<LogCheckpoint> {
    const [row] = await this.db.query(
      `SELECT transaction_id::text AS transaction_id, global_position FROM events
       WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
    );
    return row ? { transactionId: row.transaction_id, globalPosition: Number(row.global_position) } : { transactionId: '0', globalPosition: 0 };
  }

  /** Finish the appends already taken; refuse new ones. */
  drain(): Promise<void> {
    return this.committer.drain();
  }
}

function toRecorded(row: Row): RecordedEvent {
  return {
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamId: row.stream_id,
    streamPosition: Number(row.stream_position),
    globalPosition: Number(row.global_position),
    transactionId: row.transaction_id,
    recordedAt: row.created_at,
  };
}
