import { Logger } from '@nestjs/common';
import type { Database } from '../../../core/database/database.js';
import { ConcurrencyError, type Event, type RecordedEvent } from '../../../core/event-store/event.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import { isTransient, type FeedEvent } from '../../../core/projections/event-feed.js';
import type { PublishingAppender } from '../../../core/projections/publishing-appender.js';
import type { StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { collectionStreamId, type CollectionEvent, type Document } from '../domain/collection.events.js';
import { SqlError } from '../domain/sql-error.js';
import { parseJsonText } from '../query/json-text.js';
import type {
  ChangeDecider,
  ChangeOutcome,
  DocCondition,
  DocSelection,
  DocSort,
  DocumentWatch,
  FoundDocuments,
  StoredDocument,
  WatchedChange,
  Writer,
} from './document-commands.js';

/** The metadata key under which a documents write names its writer. */
export const WRITER_METADATA = 'writer';

export type DocumentStoreOptions = Readonly<{
  /** How often a write that lost a race to another writer is decided again. */
  maxRetries: number;
  /** Changes a watch may hold unhandled; past it the watch overflows (and closes). */
  maxQueued: number;
  statementTimeoutMs: number;
}>;

export const DEFAULT_DOCUMENT_STORE_OPTIONS: DocumentStoreOptions = { maxRetries: 20, maxQueued: 10_000, statementTimeoutMs: 10_000 };

const VERSION = `(SELECT count(*) FROM collection_rows h WHERE h.tbl = r.tbl AND h.row_id = r.row_id)`;

/** The documents of a collection: reads over `collection_rows`, writes as collection events with versions asserted. */
export class DocumentStore {
  private readonly logger = new Logger(DocumentStore.name);
  private readonly locks = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly subscriptions: StreamSubscriptions,
    private readonly appender: PublishingAppender,
    readonly options: DocumentStoreOptions = DEFAULT_DOCUMENT_STORE_OPTIONS,
  ) {}

  async find(table: string, selection: DocSelection, options: { sort?: DocSort; limit?: number; skip?: number; count?: boolean; countOnly?: boolean } = {}): Promise<FoundDocuments> {
    const params: unknown[] = [table];
    const where = whereOf(selection, params);
    let count: number | undefined;
    if (options.count || options.countOnly) {
      const [row] = await this.run(`SELECT count(*) AS n FROM collection_rows r WHERE ${where}`, params);
      count = Number(row.n);
      if (options.countOnly) return { documents: [], count };
    }
    const order = (options.sort ?? []).map((s) => `r.doc -> $${params.push(s.field)} ${s.direction === -1 ? 'DESC NULLS LAST' : 'ASC NULLS FIRST'}`);
    order.push(`r.doc -> 'createdAt' ASC NULLS FIRST`, 'r.row_id');
    let sql = `SELECT r.row_id, r.doc, ${VERSION} AS version FROM collection_rows r WHERE ${where} ORDER BY ${order.join(', ')}`;
    if (options.limit !== undefined) sql += ` LIMIT $${params.push(options.limit)}`;
    if (options.skip) sql += ` OFFSET $${params.push(options.skip)}`;
    const rows = await this.run(sql, params);
    return { documents: rows.map(stored), count };
  }

  async get(table: string, ids: readonly string[]): Promise<Map<string, StoredDocument>> {
    if (ids.length === 0) return new Map();
    const rows = await this.run(
      `SELECT r.row_id, r.doc, ${VERSION} AS version FROM collection_rows r WHERE r.tbl = $1 AND r.sys_to = 'infinity' AND r.row_id = ANY($2::text[])`,
      [table, [...ids]],
    );
    return new Map(rows.map((r) => [r.row_id as string, stored(r)]));
  }

  /**
   * Decides the write from the present documents and the collection's version read in one statement,
   * appends it with that version asserted, and decides again if another writer (this process or another,
   * either dialect) got in between: no update is lost, and a precondition is checked against what is written over.
   */
  async change<R>(table: string, ids: readonly string[], decide: ChangeDecider<R>, writer: Writer): Promise<ChangeOutcome<R>> {
    return this.withLock(table, async () => {
      for (let attempt = 0; ; attempt++) {
        const [row] = await this.run(
          `SELECT (SELECT version FROM collection_tables WHERE tbl = $1) AS tv,
             (SELECT coalesce(json_agg(json_build_object('row_id', r.row_id, 'doc', r.doc, 'version', ${VERSION})), '[]'::json)
              FROM collection_rows r WHERE r.tbl = $1 AND r.sys_to = 'infinity' AND r.row_id = ANY($2::text[])) AS rows`,
          [table, [...ids]],
        );
        const version = row.tv === null || row.tv === undefined ? null : Number(row.tv);
        const list = (typeof row.rows === 'string' ? JSON.parse(row.rows) : row.rows) as { row_id: string; doc: Document; version: number }[];
        const current = new Map(list.map((r) => [r.row_id, { id: r.row_id, doc: r.doc, version: Number(r.version) }]));
        const { changes, result } = await decide(current);
        const versions = new Map<string, number>();
        const inserted: { id: string; doc: Document }[] = [];
        const updated: { id: string; doc: Document }[] = [];
        const deleted: string[] = [];
        for (const change of changes) {
          const before = current.get(change.id)?.version ?? 0;
          if (change.kind === 'insert') inserted.push({ id: change.id, doc: change.doc }), versions.set(change.id, 1);
          else if (change.kind === 'update') updated.push({ id: change.id, doc: change.doc }), versions.set(change.id, before + 1);
          else deleted.push(change.id);
        }
        const metadata = { [WRITER_METADATA]: writer };
        const events: Event[] = [];
        if (inserted.length > 0) events.push({ type: 'RowsInserted', data: { table, rows: inserted }, metadata });
        if (updated.length > 0) events.push({ type: 'RowsUpdated', data: { table, rows: updated }, metadata });
        if (deleted.length > 0) events.push({ type: 'RowsDeleted', data: { table, ids: deleted }, metadata });
        if (events.length === 0) return { result, versions, position: version };
        try {
          const [appended] = await this.appender.appendMany([{ streamId: collectionStreamId(table), expected: version ?? 'no_stream', events }]);
          return { result, versions, position: appended.nextExpectedVersion };
        } catch (error) {
          if (!(error instanceof ConcurrencyError) || attempt >= this.options.maxRetries) throw error;
          await new Promise((r) => setTimeout(r, Math.random() * 3 * (attempt + 1)));
        }
      }
    });
  }

  /** Every change after `after` (null: from now on), in stream order, one row at a time. */
  async watch(table: string, after: number | null, deliver: (change: WatchedChange) => void | Promise<void>, overflow: () => void): Promise<DocumentWatch> {
    const streamId = collectionStreamId(table);
    const from = after ?? (await this.store.streamPosition(streamId));
    const queue: RecordedEvent[] = [];
    let closed = false;
    let pumping = false;
    let position = from;
    const pump = async () => {
      if (pumping) return;
      pumping = true;
      try {
        while (queue.length > 0 && !closed) {
          const event = queue.shift()!;
          let changes: WatchedChange[] = [];
          try {
            changes = await this.changesOf(table, event as unknown as RecordedEvent<CollectionEvent>);
          } catch (error) {
            this.logger.error(`${streamId}: cannot read the change at ${event.streamPosition}: ${(error as Error).message}`);
          }
          for (const change of changes) {
            if (closed) break;
            try {
              await deliver(change);
            } catch (error) {
              this.logger.error(`${streamId}: delivery failed: ${(error as Error).message}`);
            }
          }
          position = event.streamPosition;
        }
      } finally {
        pumping = false;
      }
    };
    const subscription = this.subscriptions.subscribe(streamId, from, (event: FeedEvent) => {
      if (closed || isTransient(event)) return;
      if (queue.length >= this.options.maxQueued) {
        closed = true;
        subscription.close();
        queue.length = 0;
        overflow();
        return;
      }
      queue.push(event);
      void pump();
    });
    return {
      close: () => {
        closed = true;
        queue.length = 0;
        subscription.close();
      },
      get position() {
        return position;
      },
    };
  }

  /** The rows an event changed, each with its document before (the version its transaction closed) and after. */
  private async changesOf(table: string, event: RecordedEvent<CollectionEvent>): Promise<WatchedChange[]> {
    const writer = (event.metadata?.[WRITER_METADATA] as Writer | undefined) ?? null;
    const base = { writer, position: event.streamPosition };
    if (event.type === 'RowsInserted') return event.data.rows.map((r) => ({ ...base, id: r.id, before: null, after: r.doc }));
    if (event.type === 'RowsErased') return [];
    const ids = event.type === 'RowsUpdated' ? event.data.rows.map((r) => r.id) : event.data.ids;
    const rows = await this.run(
      `SELECT h.row_id, h.doc FROM collection_rows h
       WHERE h.tbl = $1 AND h.row_id = ANY($2::text[]) AND h.sys_to = (SELECT system_time FROM collection_ticks WHERE transaction_id = $3::xid8)`,
      [table, ids, event.transactionId],
    );
    const before = new Map(rows.map((r) => [r.row_id as string, parseDoc(r.doc)]));
    if (event.type === 'RowsUpdated') return event.data.rows.map((r) => ({ ...base, id: r.id, before: before.get(r.id) ?? null, after: r.doc }));
    return event.data.ids.map((id) => ({ ...base, id, before: before.get(id) ?? null, after: null }));
  }

  private async withLock<T>(table: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(table) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => mine);
    this.locks.set(table, chained);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.locks.get(table) === chained) this.locks.delete(table);
    }
  }

  private async run(sql: string, params: unknown[]) {
    try {
      return await this.db.transaction((tx) => tx.query(sql, params), `SET LOCAL statement_timeout = ${Math.max(1, Math.floor(this.options.statementTimeoutMs))}`);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === '57014') throw new SqlError(`Query timed out after ${this.options.statementTimeoutMs} ms`);
      if (code === '2201B') throw new SqlError(`Invalid regular expression: ${(error as Error).message}`);
      if (typeof code === 'string' && code.startsWith('22')) throw new SqlError((error as Error).message);
      throw error;
    }
  }
}

function parseDoc(value: unknown): Document {
  return (typeof value === 'string' ? parseJsonText(value) : value) as Document;
}

function stored(row: Record<string, unknown>): StoredDocument {
  return { id: row.row_id as string, doc: parseDoc(row.doc), version: Number(row.version) };
}

/** The WHERE clause of a selection over the present rows of `$1`'s table; values are parameters. */
export function whereOf(selection: DocSelection, params: unknown[]): string {
  const parts = [`r.tbl = $1`, `r.sys_to = 'infinity'`];
  if (!selection.includeDeleted) parts.push(`coalesce(r.doc -> '_deleted', 'false'::jsonb) <> 'true'::jsonb`);
  if (selection.ownerId !== undefined) parts.push(`r.doc ->> '_owner_id' = $${params.push(selection.ownerId)}`);
  for (const condition of selection.conditions) parts.push(conditionSql(condition, params));
  if (selection.search && selection.search.fields.length > 0) {
    const like = `%${selection.search.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const p = params.push(like);
    parts.push(`(${selection.search.fields.map((f) => `(r.doc ->> $${params.push(f)}) ILIKE $${p}`).join(' OR ')})`);
  }
  return parts.join(' AND ');
}

function conditionSql(c: DocCondition, params: unknown[]): string {
  const f = `$${params.push(c.field)}`;
  const value = `r.doc -> ${f}`;
  const json = (v: unknown) => `$${params.push(JSON.stringify(v ?? null))}::jsonb`;
  switch (c.op) {
    case 'eq':
      return c.value === null ? `coalesce(${value}, 'null'::jsonb) = 'null'::jsonb` : `${value} = ${json(c.value)}`;
    case 'ne':
      return `${value} IS DISTINCT FROM ${json(c.value)}`;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[c.op];
      const v = json(c.value);
      return `(jsonb_typeof(${value}) = jsonb_typeof(${v}) AND ${value} ${op} ${v})`;
    }
    case 'in':
      return `coalesce(${value} IN (SELECT jsonb_array_elements(${json(c.value)})), false)`;
    case 'nin':
      return `NOT coalesce(${value} IN (SELECT jsonb_array_elements(${json(c.value)})), false)`;
    case 'regex':
      return `(jsonb_typeof(${value}) = 'string' AND (r.doc ->> ${f}) ${c.flags.includes('i') ? '~*' : '~'} $${params.push(c.pattern)})`;
    case 'exists':
      return c.value ? `(r.doc ? ${f})` : `NOT (r.doc ? ${f})`;
  }
}
