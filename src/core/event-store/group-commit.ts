import { sqlLiteral, type Database, type Row, type SqlSession } from '../database/database.js';
import {
  ConcurrencyError,
  EventStoreClosedError,
  EventStoreOverloadedError,
  matchesExpected,
  type AppendResult,
  type RecordedEvent,
  type StreamAppend,
} from './event.js';

export const LOG_CHANNEL = 'tideline_log';

export type GroupCommitOptions = {
  /** Most events written by one transaction. */
  maxBatchEvents: number;
  /** Most appends waiting for a transaction; past it, appends fail fast with EventStoreOverloadedError. */
  maxQueuedAppends: number;
  /** Transactions in flight at once (1 on PGlite: it has one session). */
  concurrency: number;
};

/** A unit is all-or-nothing: one stream for `append`, several for `appendMany`. */
type Unit = {
  appends: readonly StreamAppend[];
  eventCount: number;
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
};

type Outcome = Map<Unit, AppendResult[] | ConcurrencyError>;

/** A racing writer in another process took a position first (unique index): read positions again. */
const RACE_RETRIES = 3;

/**
 * Group commit: appends that arrive while a transaction is in flight wait and go together in the next
 * one (bounded), each caller still getting its own result or its own ConcurrencyError.
 *
 * Positions are guarded by the unique index on (stream, position): two processes that read the same
 * position cannot both commit it. A transaction reads positions before its first write, and gets its xid
 * at that write, so on any one stream xid order is position order, which is what tailing readers rely on.
 */
export class GroupCommitter {
  private readonly queue: Unit[] = [];
  private inFlight = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly db: Database,
    private readonly nodeId: string,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (this.closed) return Promise.reject(new EventStoreClosedError('server shutting down'));
    if (this.queue.length >= this.options.maxQueuedAppends) {
      return Promise.reject(new EventStoreOverloadedError('too many appends waiting; retry later'));
    }
    return new Promise((resolve, reject) => {
      const eventCount = appends.reduce((n, a) => n + a.events.length, 0);
      this.queue.push({ appends, eventCount, resolve, reject });
      this.pump();
    });
  }

  /** Stop taking appends and wait for those already taken. */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.inFlight === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.queue.length > 0) {
      // A second transaction beside a running one pays only when it carries a real batch; a tiny one
      // would just split the next batch in two.
      if (this.inFlight > 0 && this.queuedEvents() < this.options.maxBatchEvents / 4) return;
      const batch = this.takeBatch();
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) this.idleWaiters.splice(0).forEach((w) => w());
      });
    }
  }

  private queuedEvents(): number {
    let events = 0;
    for (const unit of this.queue) if ((events += unit.eventCount) >= this.options.maxBatchEvents) break;
    return events;
  }

  private takeBatch(): Unit[] {
    const batch: Unit[] = [];
    let events = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (batch.length > 0 && events + next.eventCount > this.options.maxBatchEvents) break;
      batch.push(this.queue.shift()!);
      events += next.eventCount;
    }
    return batch;
  }

  private async commit(batch: Unit[], races = 0): Promise<void> {
    let outcome: Outcome | undefined;
    try {
      if (races === 0) outcome = await this.writeBlind(batch);
      outcome ??= await this.db.transaction((tx, opened) => this.write(tx, batch, opened[0], opened[1][0]), this.opening(batch));
    } catch (error) {
      if (sqlState(error) === '23505' && races < RACE_RETRIES) return this.commit(batch, races + 1);
      // One caller's unstorable data must not fail the others: retry them one transaction each.
      if (batch.length > 1 && isDataError(error)) {
        for (const unit of batch) await this.commit([unit], races);
        return;
      }
      batch.forEach((unit) => unit.reject(error));
      return;
    }
    for (const unit of batch) {
      const result = outcome.get(unit)!;
      if (result instanceof ConcurrencyError) unit.reject(result);
      else unit.resolve(result);
    }
  }

  /**
   * Sent with BEGIN in one round trip: the streams' current positions, then (a statement of its own, so
   * after that read) the transaction's id and time, shared by all its events.
   */
  private opening(batch: Unit[]): string {
    const streamIds = [...new Set(batch.flatMap((u) => u.appends.map((a) => a.streamId)))];
    return `SELECT id AS stream_id, (SELECT stream_position FROM events WHERE stream_id = id ORDER BY stream_position DESC LIMIT 1) AS position
        FROM unnest(ARRAY[${streamIds.map(sqlLiteral).join(',')}]::text[]) AS id;
      SELECT pg_current_xact_id()::text AS transaction_id, now() AS recorded_at`;
  }

  /**
   * The common case, one statement and one round trip: every append names the exact position it expects
   * (as actors do), so positions need no read; the unique index refuses any taken by someone else. If it
   * does (another process won a race), undefined: the caller takes the reading path, which tells each
   * caller its own outcome.
   */
  private async writeBlind(batch: Unit[]): Promise<Outcome | undefined> {
    if (!batch.every((u) => u.appends.every((a) => typeof a.expected === 'number' || a.expected === 'no_stream'))) return undefined;
    const next = new Map<string, number>();
    const outcome: Outcome = new Map();
    const accepted: Accepted[] = [];
    for (const unit of batch) {
      const clash = unit.appends.find((a) => next.has(a.streamId) && next.get(a.streamId) !== expectedPosition(a));
      if (clash) {
        outcome.set(unit, new ConcurrencyError(clash.streamId, clash.expected, next.get(clash.streamId)!));
        continue;
      }
      for (const append of unit.appends) {
        const from = expectedPosition(append);
        next.set(append.streamId, from + append.events.length);
        accepted.push({ unit, streamId: append.streamId, from, append });
      }
    }
    // Each stream's expected position must exist: appending after a position never written would leave a gap.
    const predecessors = new Map<string, number>();
    for (const { streamId, from } of accepted) if (from > 0 && !predecessors.has(streamId)) predecessors.set(streamId, from);
    let inserted: Inserted | undefined;
    try {
      inserted = await this.insert(this.db, accepted, true, predecessors);
    } catch (error) {
      if (sqlState(error) === '23505') return undefined;
      throw error;
    }
    return inserted && this.results(batch, accepted, inserted, outcome);
  }

  private async write(tx: SqlSession, batch: Unit[], current: Row[], transaction: Row): Promise<Outcome> {
    const positions = new Map<string, number>();
    for (const row of current) positions.set(row.stream_id, row.position === null ? 0 : Number(row.position));

    const outcome: Outcome = new Map();
    const accepted: Accepted[] = [];
    for (const unit of batch) {
      const conflict = unit.appends.find((a) => !matchesExpected(a.expected, positions.get(a.streamId)!));
      if (conflict) {
        outcome.set(unit, new ConcurrencyError(conflict.streamId, conflict.expected, positions.get(conflict.streamId)!));
        continue;
      }
      for (const append of unit.appends) {
        const from = positions.get(append.streamId)!;
        positions.set(append.streamId, from + append.events.length);
        accepted.push({ unit, streamId: append.streamId, from, append });
      }
    }

    const inserted = await this.insert(tx, accepted, false);
    return this.results(batch, accepted, { ...inserted, transactionId: String(transaction.transaction_id), recordedAt: transaction.recorded_at as Date }, outcome);
  }

  private results(batch: Unit[], accepted: Accepted[], inserted: Inserted, outcome: Outcome): Outcome {
    let next = 0;
    for (const { unit, streamId, from, append } of accepted) {
      // Built field by field rather than spread: one object shape for every recorded event (a hot path).
      const events: RecordedEvent[] = append.events.map((event, i) => ({
        type: event.type,
        data: event.data,
        metadata: event.metadata,
        streamId,
        streamPosition: from + i + 1,
        globalPosition: inserted.globalPositions[next++],
        transactionId: inserted.transactionId,
        recordedAt: inserted.recordedAt,
      }));
      const results = outcome.get(unit) ?? [];
      (results as AppendResult[]).push({ streamId, nextExpectedVersion: from + append.events.length, events });
      outcome.set(unit, results);
    }
    for (const unit of batch) if (!outcome.has(unit)) outcome.set(unit, []);
    return outcome;
  }

  /**
   * One INSERT statement (plus, on a shared database, a wake-up for tails); global positions in row order,
   * and, when asked, the transaction's id and time (a statement alone is its own transaction).
   */
  private async insert(session: SqlSession, accepted: Accepted[], withTransaction: true, predecessors: Map<string, number>): Promise<Inserted | undefined>;
  private async insert(session: SqlSession, accepted: Accepted[], withTransaction: false): Promise<Inserted>;
  private async insert(
    session: SqlSession,
    accepted: Accepted[],
    withTransaction: boolean,
    predecessors?: Map<string, number>,
  ): Promise<Inserted | undefined> {
    // Each column as one JSON array: one constant statement with six parameters, however many rows.
    // PostgreSQL parses and plans it in half the time a multi-row VALUES list takes, and JSON costs this
    // process a third of what pg's array literals (escaped element by element) do.
    const streams: string[] = [];
    const positions: number[] = [];
    const types: string[] = [];
    const data: unknown[] = [];
    const metadata: unknown[] = [];
    for (const { streamId, from, append } of accepted) {
      for (let i = 0; i < append.events.length; i++) {
        const event = append.events[i];
        streams.push(streamId);
        positions.push(from + i + 1);
        types.push(event.type);
        data.push(event.data ?? null);
        metadata.push(event.metadata ?? {});
      }
    }
    if (streams.length === 0) return { globalPositions: [], transactionId: '0', recordedAt: new Date() };
    const params: unknown[] = [this.nodeId, ...[streams, positions, types, data, metadata].map((column) => JSON.stringify(column))];
    let guard = '';
    if (predecessors && predecessors.size > 0) {
      const n = params.push([...predecessors.keys()], [...predecessors.values()], predecessors.size);
      guard = `WHERE (SELECT count(*) FROM events e JOIN unnest($${n - 2}::text[], $${n - 1}::bigint[]) AS p(s, at)
                 ON e.stream_id = p.s AND e.stream_position = p.at) = $${n}`;
    }
    // The payload names the writer, so a process's own tail need not wake for what it already published.
    const wake = this.db.shared ? `, (SELECT pg_notify('${LOG_CHANNEL}', $1::text)) AS woke` : '';
    const transaction = withTransaction
      ? `, (SELECT pg_current_xact_id()::text) AS transaction_id, (SELECT extract(epoch FROM now()) * 1000)::float8 AS recorded_ms`
      : '';
    // One row back, whatever the batch size: positions as arrays, in insertion order (RETURNING's order).
    const [row] = await session.query<{ global: string[] | null; streams: string[] | null; transaction_id?: string; recorded_ms?: number }>(
      `WITH inserted AS (
         INSERT INTO events (stream_id, stream_position, type, data, metadata, node_id)
         SELECT s, p::bigint, t, d::jsonb, m::jsonb, $1::text
         FROM ROWS FROM (json_array_elements_text($2::json), json_array_elements_text($3::json), json_array_elements_text($4::json),
                         json_array_elements($5::json), json_array_elements($6::json)) AS v(s, p, t, d, m) ${guard}
         RETURNING global_position, stream_position
       ) SELECT array_agg(global_position) AS global, array_agg(stream_position) AS streams${wake}${transaction} FROM inserted`,
      params,
      // One prepared statement per variant of the text: named after the optional parts it carries.
      ['tideline_append', guard && 'guarded', wake && 'wake', transaction && 'own_tx'].filter(Boolean).join('_'),
    );
    if (!row?.global) return undefined; // a predecessor was missing: nothing was written
    // Check the order rather than trust it.
    let k = 0;
    for (const { from, append } of accepted) {
      for (let i = 0; i < append.events.length; i++, k++) {
        if (Number(row.streams![k]) !== from + i + 1) throw new Error('event store: RETURNING rows out of insertion order');
      }
    }
    return {
      globalPositions: row.global.map(Number),
      transactionId: row.transaction_id ?? '0',
      recordedAt: new Date(row.recorded_ms ?? Date.now()),
    };
  }
}

type Accepted = { unit: Unit; streamId: string; from: number; append: StreamAppend };
type Inserted = { globalPositions: number[]; transactionId: string; recordedAt: Date };

function expectedPosition(append: StreamAppend): number {
  return append.expected === 'no_stream' ? 0 : (append.expected as number);
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown; driverError?: { code?: unknown } }).driverError?.code ?? (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity violation): the data, not the database. */
function isDataError(error: unknown): boolean {
  const code = sqlState(error);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}
