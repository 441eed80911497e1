import { randomUUID } from 'node:crypto';
import type { Database } from '../database/database.js';
import { GroupCommitter, type GroupCommitOptions } from './group-commit.js';
import type { AppendLink, AppendOptions, AppendResult, Event, ExpectedVersion, LogCheckpoint, RecordedEvent, StreamAppend } from './event.js';
import type { InlineHandler } from './inline-handler.js';
import { EVENT_COLUMNS, PAYLOAD_COLUMNS, toRecorded } from './rows.js';

export type EventStoreOptions = Partial<GroupCommitOptions> & { nodeId?: string };

/** How many events one stream read returns unless told otherwise. */
export const STREAM_PAGE = 1000;

export type ReadStreamOptions = { after?: number; limit?: number };
export type StreamPagesOptions = { after?: number; pageSize?: number };
export type ReadLogOptions = {
  limit?: number;
  /** Rows this node wrote come back without their payload (they still move the checkpoint). */
  excludeNode?: string;
  /** Only events of these stream prefixes and types come with their payload (absent: all). */
  streamPrefixes?: readonly string[];
  eventTypes?: readonly string[];
  /** A page stops once its wanted payloads (data and metadata, as stored) reach this many bytes: it may pass it by its last row. */
  maxBytes?: number;
  /** false: events come without `data` and `metadata` (null), for a reader of names and positions only. */
  payload?: boolean;
};
/** `scanned` counts rows read, including those filtered out (`excludeNode`, the selection, the byte bound). */
export type LogPage = {
  events: RecordedEvent[];
  checkpoint: LogCheckpoint;
  scanned: number;
  /** The page was cut (by `limit` or `maxBytes`): more may follow at once. */
  more: boolean;
};

/** The append-only log: typed appends with expected-version checks, stream reads and a tail-safe log read. */
export class EventStore {
  private readonly committer: GroupCommitter;

  constructor(
    readonly db: Database,
    options: EventStoreOptions = {},
  ) {
    this.committer = new GroupCommitter(db, options.nodeId ?? randomUUID(), {
      maxBatchEvents: options.maxBatchEvents ?? 2000,
      maxBatchBytes: options.maxBatchBytes ?? 4 * 1024 * 1024,
      maxQueuedAppends: options.maxQueuedAppends ?? 50_000,
      maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024 * 1024,
      concurrency: db.kind === 'pglite' ? 1 : (options.concurrency ?? 2),
      outcomeLookupMs: options.outcomeLookupMs ?? 3000,
    });
  }

  /**
   * The name this process's rows carry, which its own tail skips. It changes after a write whose outcome
   * could not be learnt, so that the tail delivers those rows if they did commit.
   */
  get nodeId(): string {
    return this.committer.nodeId;
  }

  async append<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions = {}): Promise<AppendResult> {
    if (options.after) return this.appendChained(streamId, expected, events, options).result;
    const [result] = await this.committer.submit([{ streamId, expected, events, idempotencyKey: options.idempotencyKey }]);
    return result;
  }

  /**
   * An append a pipelined writer makes before its previous one (`options.after`) has committed: it goes
   * to the log only after that one did, and the returned link lets the next be chained after this one.
   */
  appendChained<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions = {}): { link: AppendLink; result: Promise<AppendResult> } {
    const { link, result } = this.committer.submitChained([{ streamId, expected, events, idempotencyKey: options.idempotencyKey }], options.after);
    return { link, result: result.then(([r]) => r) };
  }

  /**
   * Appends to several streams in one transaction: all of them, or (on any conflict) none. An entry with
   * no events still asserts its expected version (a stream only read).
   */
  appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    return this.committer.submit(appends);
  }

  /**
   * Has every batch with an event `handler` handles written in a transaction, and calls it there after the
   * insert; returns a function that unregisters it.
   */
  registerInline(handler: InlineHandler): () => void {
    if (this.committer.inline.some((h) => h.name === handler.name)) throw new Error(`inline handler ${handler.name} is already registered`);
    this.committer.inline.push(handler);
    return () => {
      const at = this.committer.inline.indexOf(handler);
      if (at >= 0) this.committer.inline.splice(at, 1);
    };
  }

  /** One page of a stream (at most `limit` events after `after`): fold a long stream with `streamPages`. */
  async readStream(streamId: string, { after = 0, limit = STREAM_PAGE }: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const rows = await this.db.query(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_position > $2
       ORDER BY stream_position LIMIT $3`,
      [streamId, after, limit],
    );
    return rows.map(toRecorded);
  }

  /** The stream after `after`, page by page, so that a reader holds one page at a time. */
  async *streamPages(streamId: string, { after = 0, pageSize = STREAM_PAGE }: StreamPagesOptions = {}): AsyncGenerator<RecordedEvent[]> {
    for (;;) {
      const page = await this.readStream(streamId, { after, limit: pageSize });
      if (page.length > 0) yield page;
      if (page.length < pageSize) return;
      after = page.at(-1)!.streamPosition;
    }
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
  async readLog(checkpoint: LogCheckpoint, { limit = 1000, excludeNode, streamPrefixes, eventTypes, maxBytes, payload = true }: ReadLogOptions = {}): Promise<LogPage> {
    // Rows not wanted still move the checkpoint, so they come back too, but without their payload; a page
    // ends with the row whose wanted payload reaches `maxBytes` (`before`: the bytes of the rows ahead of it).
    const prefixes = streamPrefixes?.map((p) => p.replace(/[\\%_]/g, (c) => `\\${c}`) + '%') ?? null;
    const rows = await this.db.query(
      `WITH page AS (
         SELECT global_position, transaction_id, ${PAYLOAD_COLUMNS.join(', ')},
           node_id IS DISTINCT FROM $4 AND ($5::text[] IS NULL OR stream_id LIKE ANY($5::text[])) AND ($6::text[] IS NULL OR type = ANY($6::text[])) AS wanted
         FROM events
         WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY transaction_id, global_position LIMIT $3
       ), sized AS (
         SELECT *, COALESCE(sum(CASE WHEN wanted THEN ${payload ? 'pg_column_size(data) + pg_column_size(metadata)' : '0'} END)
                     OVER (ORDER BY transaction_id, global_position ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before,
                   count(*) OVER () AS page_rows
         FROM page
       )
       SELECT global_position, transaction_id::text AS transaction_id, NOT wanted AS excluded, page_rows,
         ${PAYLOAD_COLUMNS.map((c) => (!payload && (c === 'data' || c === 'metadata') ? `NULL::jsonb AS ${c}` : `CASE WHEN wanted THEN ${c} END AS ${c}`)).join(', ')}
       FROM sized WHERE $7::bigint IS NULL OR before < $7::bigint
       ORDER BY transaction_id, global_position`,
      [checkpoint.transactionId, checkpoint.globalPosition, limit, excludeNode ?? null, prefixes, eventTypes ?? null, maxBytes ?? null],
    );
    const last = rows.at(-1);
    const pageRows = Number(rows[0]?.page_rows ?? 0);
    return {
      events: rows.filter((r) => !r.excluded).map(toRecorded),
      checkpoint: last ? { transactionId: last.transaction_id, globalPosition: Number(last.global_position) } : checkpoint,
      scanned: rows.length,
      more: pageRows === limit || rows.length < pageRows,
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
