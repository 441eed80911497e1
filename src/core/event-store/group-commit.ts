import { randomUUID } from 'node:crypto';
import { DatabaseUnavailableError, sqlLiteral, type Database, type Row, type SqlSession } from '../database/database.js';
import {
  AppendOutcomeUnknownError,
  ConcurrencyError,
  EventStoreClosedError,
  EventStoreOverloadedError,
  matchesExpected,
  PredecessorFailedError,
  type AppendLink,
  type AppendResult,
  type Event,
  type ExpectedVersion,
  type RecordedEvent,
  type StreamAppend,
} from './event.js';
import type { InlineHandler } from './inline-handler.js';
import { PAYLOAD_COLUMNS, toRecorded } from './rows.js';

export const LOG_CHANNEL = 'tideline_log';

export type GroupCommitOptions = {
  /** Most events written by one transaction. */
  maxBatchEvents: number;
  /** Most bytes (estimated from the events' JSON) written by one transaction; a larger single append goes alone. */
  maxBatchBytes: number;
  /** Most appends waiting for a transaction; past it, appends fail fast with EventStoreOverloadedError. */
  maxQueuedAppends: number;
  /** Most bytes waiting for a transaction; past it, likewise. */
  maxQueuedBytes: number;
  /** Transactions in flight at once (1 on PGlite: it has one session). */
  concurrency: number;
  /** How long to keep trying to find out whether a write whose connection was lost committed. */
  outcomeLookupMs: number;
};

/** A stream append made ready when submitted: its key, and its events' JSON (which also sizes it). */
type Prepared = {
  streamId: string;
  expected: ExpectedVersion;
  events: readonly Event[];
  key: string;
  /** A caller's key may already be in the log (a retry); one made up here never is. */
  callerKey: boolean;
  data: string[];
  metadata: string[];
};

/** A unit is all-or-nothing: one stream for `append`, several for `appendMany`. */
type Unit = {
  appends: readonly Prepared[];
  eventCount: number;
  bytes: number;
  /** Written only after this one committed (a pipelined writer's previous append). */
  after?: Unit;
  state: 'waiting' | 'committed' | 'failed';
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
};

type Outcome = Map<Unit, AppendResult[] | ConcurrencyError>;
/** Events found in the log by idempotency key, by `logKey(stream, key)`. */
type Found = Map<string, RecordedEvent[]>;

/** A racing writer in another process took a position first (unique index): read positions again. */
const RACE_RETRIES = 3;
/** Per event, beside its JSON: stream id, position, type, the row itself. */
const EVENT_OVERHEAD_BYTES = 64;

/**
 * Group commit: appends that arrive while a transaction is in flight wait and go together in the next
 * one (bounded), each caller still getting its own result or its own ConcurrencyError.
 *
 * Positions are guarded by the unique index on (stream, position): two processes that read the same
 * position cannot both commit it. A transaction reads positions before its first write, and gets its xid
 * at that write, so on any one stream xid order is position order, which is what tailing readers rely on.
 *
 * Every stream append carries an idempotency key, stored on its first row under a unique index: an
 * append already in the log is answered from the log rather than written twice, and a write whose
 * connection was lost is looked up by its keys to tell its caller what became of it.
 */
export class GroupCommitter {
  private readonly queue: Unit[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private rotations = 0;
  /** The inline handlers (registration order): batches with events they handle are written in a transaction. */
  readonly inline: InlineHandler[] = [];
  /** The writer's name on its rows and NOTIFYs; changed when rows it wrote may not have reached its callers. */
  nodeId: string;

  constructor(
    private readonly db: Database,
    private readonly baseNodeId: string,
    private readonly options: GroupCommitOptions,
  ) {
    this.nodeId = baseNodeId;
  }

  /** Like `submit`, and returns a link a later append can be chained after. */
  submitChained(appends: readonly StreamAppend[], after?: AppendLink): { link: AppendLink; result: Promise<AppendResult[]> } {
    const link: ChainLink = {};
    return { link, result: this.submit(appends, after as ChainLink | undefined, link) };
  }

  submit(appends: readonly StreamAppend[], after?: ChainLink, link?: ChainLink): Promise<AppendResult[]> {
    // Refused before it was queued: a later append chained after this one must fail too.
    const refuse = (error: unknown) => {
      if (link) link.failed = true;
      return Promise.reject(error);
    };
    if (this.closed) return refuse(new EventStoreClosedError('server shutting down'));
    if (this.queue.length >= this.options.maxQueuedAppends) {
      return refuse(new EventStoreOverloadedError('too many appends waiting; retry later'));
    }
    let prepared: Prepared[];
    try {
      prepared = appends.map(prepare);
    } catch (error) {
      return refuse(error); // unserialisable data (a BigInt, a cycle): this caller's alone
    }
    let eventCount = 0;
    let bytes = 0;
    for (const append of prepared) {
      eventCount += append.events.length;
      bytes += appendBytes(append);
    }
    // An empty queue takes any one append, or one larger than the bound could never be written.
    if (this.queue.length > 0 && this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      return refuse(new EventStoreOverloadedError('too many bytes waiting to be appended; retry later'));
    }
    const predecessor = after?.unit;
    if (after?.failed || predecessor?.state === 'failed') return refuse(new PredecessorFailedError(prepared[0]?.streamId ?? ''));
    return new Promise((resolve, reject) => {
      const unit: Unit = {
        appends: prepared,
        eventCount,
        bytes,
        after: predecessor?.state === 'waiting' ? predecessor : undefined,
        state: 'waiting',
        resolve: (results) => {
          unit.state = 'committed';
          unit.after = undefined;
          resolve(results);
        },
        reject: (error) => {
          unit.state = 'failed';
          unit.after = undefined;
          reject(error);
        },
      };
      if (link) link.unit = unit;
      this.queue.push(unit);
      this.queuedBytes += bytes;
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
      if (this.inFlight > 0 && !this.realBatchQueued()) return;
      const batch = this.takeBatch();
      if (batch.length === 0) return; // all that waits is chained after appends still in flight
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) this.idleWaiters.splice(0).forEach((w) => w());
      });
    }
  }

  private realBatchQueued(): boolean {
    if (this.queuedBytes >= this.options.maxBatchBytes / 4) return true;
    let events = 0;
    for (const unit of this.queue) if ((events += unit.eventCount) >= this.options.maxBatchEvents / 4) return true;
    return false;
  }

  /**
   * The next transaction's units, in queue order. A unit chained after one not yet committed stays queued
   * (it was decided on that one's outcome; so do later units of its streams, to keep each stream's order);
   * one chained after a failed one is refused here.
   */
  private takeBatch(): Unit[] {
    const batch: Unit[] = [];
    let events = 0;
    let bytes = 0;
    let blocked: Set<string> | undefined;
    let kept = 0;
    let i = 0;
    for (; i < this.queue.length; i++) {
      const next = this.queue[i];
      if (next.after?.state === 'failed') {
        this.queuedBytes -= next.bytes;
        next.reject(new PredecessorFailedError(next.appends[0]?.streamId ?? ''));
        continue;
      }
      if (next.after?.state === 'waiting' || (blocked && next.appends.some((a) => blocked!.has(a.streamId)))) {
        blocked ??= new Set();
        for (const a of next.appends) blocked.add(a.streamId);
        this.queue[kept++] = next;
        continue;
      }
      if (batch.length > 0 && (events + next.eventCount > this.options.maxBatchEvents || bytes + next.bytes > this.options.maxBatchBytes)) break;
      batch.push(next);
      events += next.eventCount;
      bytes += next.bytes;
      this.queuedBytes -= next.bytes;
    }
    // The kept units now fill the front; what was taken or refused sat between them and i.
    if (i > kept) this.queue.splice(kept, i - kept);
    return batch;
  }

  private async commit(batch: Unit[], races = 0): Promise<void> {
    let outcome: Outcome | undefined;
    // Set while a write may have reached the database: a connection lost then leaves its outcome unknown.
    const inDoubt = { now: false };
    const deferred: string[] = [];
    try {
      if (races === 0 && this.blindable(batch)) outcome = await this.writeBlind(batch, inDoubt);
      inDoubt.now = false;
      outcome ??= await this.db.transaction(
        async (tx, opened) => {
          // Inline handlers may leave their writes to the COMMIT's round trip (SqlSession.defer).
          const session: SqlSession = { query: (sql, params, prepareAs) => tx.query(sql, params, prepareAs), defer: (sql) => void deferred.push(sql) };
          const written = await this.write(session, batch, opened[0], opened[1][0]);
          inDoubt.now = true; // only COMMIT (and what was deferred to it) is left
          return written;
        },
        this.opening(batch),
        () => deferred,
      );
    } catch (error) {
      // The database refusing what a handler deferred fails the commit: that is the handler failing.
      const deferredFailed = deferred.length > 0 && inDoubt.now && !isConnectionLoss(error);
      return this.failed(batch, races, deferredFailed ? new InlineHandlerFailure('deferred', error) : error, inDoubt.now);
    }
    const refused: Unit[] = [];
    for (const unit of batch) {
      const result = outcome.get(unit)!;
      if (result instanceof ConcurrencyError) refused.push(unit);
      else unit.resolve(result);
    }
    // A caller's retry of an append already in the log expects a version that has moved on: answer it from the log.
    if (refused.length > 0) for (const unit of await this.answerRetries(refused)) unit.reject(outcome.get(unit));
  }

  private async failed(batch: Unit[], races: number, error: unknown, inDoubt: boolean): Promise<void> {
    if (inDoubt && isConnectionLoss(error)) return this.findOut(batch, error);
    if (error instanceof InlineHandlerFailure) {
      if (batch.length > 1) return this.oneByOne(batch, races);
      return batch[0].reject(error.cause);
    }
    if (sqlState(error) === '23505') {
      // Either appends retried with keys already in the log, or a racing writer took a position first.
      // Told apart by looking the callers' keys up, whichever of the two unique indexes refused the row.
      const rest = await this.answerRetries(batch);
      if (rest.length === 0) return;
      if (races < RACE_RETRIES) return this.commit(rest, races + 1);
      if (rest.length > 1) return this.oneByOne(rest, races);
      return rest[0].reject(await this.lostRace(rest[0], error));
    }
    // One caller's unstorable data must not fail the others: retry them one transaction each.
    if (batch.length > 1 && isDataError(error)) return this.oneByOne(batch, races);
    batch.forEach((unit) => unit.reject(error));
  }

  private async oneByOne(batch: Unit[], races: number): Promise<void> {
    for (const unit of batch) await this.commit([unit], races);
  }

  /**
   * One blind write (one statement, or the transaction's COMMIT) lost its connection: find out from the
   * log whether it committed. Found: its callers get what it recorded. Certainly absent: the original
   * error (nothing was applied). Unknowable: AppendOutcomeUnknownError with the keys to retry with.
   */
  private async findOut(batch: Unit[], lost: unknown): Promise<void> {
    const written = batch.flatMap((unit) => unit.appends.filter((a) => a.events.length > 0));
    const answered = new Map<Unit, AppendResult[] | undefined>();
    const found = await this.lookUpSettled(written);
    try {
      if (found) for (const unit of batch) answered.set(unit, unit.eventCount > 0 ? await this.fromLog(unit, found) : undefined);
    } catch {
      answered.clear();
    }
    if (answered.size === 0) {
      // Rows written under the current id would be skipped by this process's own tail: write under a new one.
      this.nodeId = `${this.baseNodeId}~${++this.rotations}`;
      for (const unit of batch) unit.reject(new AppendOutcomeUnknownError(unit.appends.map((a) => a.key), lost));
      return;
    }
    for (const unit of batch) {
      const results = answered.get(unit);
      if (results) unit.resolve(results);
      else unit.reject(lost);
    }
  }

  /**
   * The appends' events, once every transaction that may still have been running has ended (the lost one
   * among them, so what the log shows is final); undefined if the database cannot tell us in time.
   */
  private async lookUpSettled(appends: Prepared[]): Promise<Found | undefined> {
    const deadline = Date.now() + this.options.outcomeLookupMs;
    let horizon: string | undefined;
    for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
      try {
        // Each query is given up on at the deadline: a database that stops answering must not hold the callers.
        horizon ??= (await by(deadline, this.db.query(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax`)))[0].xmax as string;
        const [{ settled }] = await by(deadline, this.db.query(`SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS settled`, [horizon]));
        if (settled) return await by(deadline, this.recordedByKey(appends));
      } catch {
        // still unreachable: try again until the deadline
      }
      if (Date.now() + pause > deadline) return undefined;
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /** Resolves the units whose appends are all in the log already (retries); returns the others. */
  private async answerRetries(units: Unit[]): Promise<Unit[]> {
    const asked = units.filter(hasCallerKey);
    if (asked.length === 0) return units;
    const rest: Unit[] = [];
    try {
      const found = await this.recordedByKey(asked.flatMap((u) => u.appends.filter((a) => a.events.length > 0)));
      for (const unit of units) {
        const results = asked.includes(unit) ? await this.fromLog(unit, found) : undefined;
        if (results) unit.resolve(results);
        else rest.push(unit);
      }
    } catch {
      return units; // the lookup failed: they fail or retry as they would have
    }
    return rest;
  }

  /** The results a unit had when it was first written, if all its appends are in `found`. */
  private async fromLog(unit: Unit, found: Found): Promise<AppendResult[] | undefined> {
    const results: AppendResult[] = [];
    for (const append of unit.appends) {
      if (append.events.length === 0) {
        results.push({ streamId: append.streamId, nextExpectedVersion: await this.versionAsserted(append), events: [] });
        continue;
      }
      const events = found.get(logKey(append.streamId, append.key));
      if (!events) return undefined;
      results.push({ streamId: append.streamId, nextExpectedVersion: events.at(-1)!.streamPosition, events });
    }
    return results;
  }

  private async versionAsserted(append: Prepared): Promise<number> {
    if (typeof append.expected === 'number') return append.expected;
    if (append.expected === 'no_stream') return 0;
    const [row] = await this.db.query(`SELECT max(stream_position) AS position FROM events WHERE stream_id = $1`, [append.streamId]);
    return Number(row?.position ?? 0);
  }

  /**
   * The events of each append, found by its key: its first row carries the key, the rest follow it in
   * the same transaction up to the next keyed row (the next append), where the index scans stop.
   */
  private async recordedByKey(appends: Prepared[]): Promise<Found> {
    const found: Found = new Map();
    if (appends.length === 0) return found;
    const rows = await this.db.query(
      `SELECT k.append_key AS key, e.append_key AS row_key, e.global_position, e.transaction_id::text AS transaction_id,
         ${PAYLOAD_COLUMNS.map((c) => `e.${c}`).join(', ')}
       FROM unnest($1::text[], $2::text[]) AS q(stream_id, append_key)
       JOIN events k ON k.stream_id = q.stream_id AND k.append_key = q.append_key AND k.append_key IS NOT NULL
       CROSS JOIN LATERAL (SELECT min(n.stream_position) AS position FROM events n
         WHERE n.stream_id = k.stream_id AND n.stream_position > k.stream_position AND n.append_key IS NOT NULL) AS next_append
       JOIN events e ON e.stream_id = k.stream_id AND e.transaction_id = k.transaction_id AND e.stream_position >= k.stream_position
         AND (next_append.position IS NULL OR e.stream_position < next_append.position)
       ORDER BY k.stream_id, k.append_key, e.stream_position`,
      [appends.map((a) => a.streamId), appends.map((a) => a.key)],
    );
    let current: RecordedEvent[] | undefined;
    for (const row of rows) {
      if (row.row_key !== null) found.set(logKey(row.stream_id, row.key), (current = []));
      current!.push(toRecorded(row));
    }
    return found;
  }

  /** The unique index refused a position on every try: tell the caller as a conflict, with the position now. */
  private async lostRace(unit: Unit, error: unknown): Promise<ConcurrencyError> {
    const taken = /\(stream_id, stream_position\)=\((.*), \d+\) already exists/.exec(String((error as { detail?: unknown }).detail ?? ''))?.[1];
    const append = unit.appends.find((a) => a.streamId === taken) ?? unit.appends.find((a) => a.events.length > 0) ?? unit.appends[0];
    const actual = await this.db
      .query(`SELECT max(stream_position) AS position FROM events WHERE stream_id = $1`, [append.streamId])
      .then(([row]) => Number(row?.position ?? 0), () => -1);
    return new ConcurrencyError(append.streamId, append.expected, actual);
  }

  /**
   * Whether the batch may take the one-statement path: every append names the position it expects and
   * writes a row there for the unique index to guard (an empty append writes none, so its version needs
   * the read), and no inline handler wants its events (they need a transaction).
   */
  private blindable(batch: Unit[]): boolean {
    for (const unit of batch) {
      for (const a of unit.appends) if (a.events.length === 0 || (typeof a.expected !== 'number' && a.expected !== 'no_stream')) return false;
    }
    if (this.inline.length === 0) return true;
    return !batch.some((unit) => unit.appends.some((a) => a.events.some((e) => this.inline.some((h) => h.handles({ streamId: a.streamId, type: e.type })))));
  }

  /** Hands each inline handler the batch's recorded events it handles, in the transaction, after the insert. */
  private async runInline(tx: SqlSession, batch: Unit[], outcome: Outcome): Promise<void> {
    const recorded: RecordedEvent[] = [];
    for (const unit of batch) {
      const results = outcome.get(unit);
      if (results && !(results instanceof ConcurrencyError)) for (const result of results) recorded.push(...result.events);
    }
    for (const handler of this.inline) {
      const mine = recorded.filter((e) => handler.handles(e));
      if (mine.length === 0) continue;
      try {
        await handler.handle(tx, mine);
      } catch (error) {
        throw new InlineHandlerFailure(handler.name, error);
      }
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
  private async writeBlind(batch: Unit[], inDoubt: { now: boolean }): Promise<Outcome | undefined> {
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
      inDoubt.now = true;
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
    this.results(batch, accepted, { ...inserted, transactionId: String(transaction.transaction_id), recordedAt: transaction.recorded_at as Date }, outcome);
    if (this.inline.length > 0) await this.runInline(tx, batch, outcome);
    return outcome;
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
    // Each column as one JSON array: one constant statement with seven parameters, however many rows.
    // PostgreSQL parses and plans it in half the time a multi-row VALUES list takes, and JSON costs this
    // process a third of what pg's array literals (escaped element by element) do. Payloads were turned
    // into JSON when submitted: here they are only joined.
    const streams: string[] = [];
    const positions: number[] = [];
    const types: string[] = [];
    const data: string[] = [];
    const metadata: string[] = [];
    const keys: (string | null)[] = [];
    for (const { streamId, from, append } of accepted) {
      for (let i = 0; i < append.events.length; i++) {
        streams.push(streamId);
        positions.push(from + i + 1);
        types.push(append.events[i].type);
        data.push(append.data[i]);
        metadata.push(append.metadata[i]);
        keys.push(i === 0 ? append.key : null);
      }
    }
    if (streams.length === 0) return { globalPositions: [], transactionId: '0', recordedAt: new Date() };
    const params: unknown[] = [
      this.nodeId,
      JSON.stringify(streams),
      JSON.stringify(positions),
      JSON.stringify(types),
      `[${data.join(',')}]`,
      `[${metadata.join(',')}]`,
      JSON.stringify(keys),
    ];
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
         INSERT INTO events (stream_id, stream_position, type, data, metadata, node_id, append_key)
         SELECT s, p::bigint, t, d::jsonb, m::jsonb, $1::text, k
         FROM ROWS FROM (json_array_elements_text($2::json), json_array_elements_text($3::json), json_array_elements_text($4::json),
                         json_array_elements($5::json), json_array_elements($6::json), json_array_elements_text($7::json)) AS v(s, p, t, d, m, k) ${guard}
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

/** An inline handler threw: the appends whose events it was given fail with its error, the others go on. */
class InlineHandlerFailure extends Error {
  constructor(
    readonly handler: string,
    override readonly cause: unknown,
  ) {
    super(`inline handler ${handler} failed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** What `submitChained` hands out: which unit a later append waits for. */
type ChainLink = { unit?: Unit; failed?: boolean };

type Accepted = { unit: Unit; streamId: string; from: number; append: Prepared };
type Inserted = { globalPositions: number[]; transactionId: string; recordedAt: Date };

function prepare(append: StreamAppend): Prepared {
  const data = new Array<string>(append.events.length);
  const metadata = new Array<string>(append.events.length);
  for (let i = 0; i < append.events.length; i++) {
    const event = append.events[i];
    data[i] = JSON.stringify(event.data ?? null);
    metadata[i] = event.metadata ? JSON.stringify(event.metadata) : '{}';
  }
  const key = append.idempotencyKey;
  return { streamId: append.streamId, expected: append.expected, events: append.events, key: key ?? randomUUID(), callerKey: key !== undefined, data, metadata };
}

/** Characters rather than UTF-8 bytes: an estimate, and a cheap one. */
function appendBytes(append: Prepared): number {
  let bytes = 0;
  for (let i = 0; i < append.events.length; i++) {
    bytes += append.data[i].length + append.metadata[i].length + append.events[i].type.length + append.streamId.length + EVENT_OVERHEAD_BYTES;
  }
  return bytes;
}

function hasCallerKey(unit: Unit): boolean {
  return unit.appends.some((a) => a.callerKey && a.events.length > 0);
}

function logKey(streamId: string, key: string): string {
  return `${streamId}\u0000${key}`;
}

function expectedPosition(append: Prepared): number {
  return append.expected === 'no_stream' ? 0 : (append.expected as number);
}

/** `work`, or a rejection once `deadline` (epoch ms) passes; `work` itself is left to finish or fail. */
function by<T>(deadline: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('outcome lookup past its deadline')), Math.max(0, deadline - Date.now()));
  });
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
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

/**
 * The connection broke (or stopped answering) under a statement: it may or may not have run. A refusal
 * before anything was sent (the database known to be down) is not one.
 */
function isConnectionLoss(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof DatabaseUnavailableError) return false;
  const code = sqlState(error);
  if (code !== undefined) return code.startsWith('08') || /^57P0[123]$/.test(code) || /^E[A-Z]+$/.test(code);
  return /Connection terminated|Query read timeout|connection error|not queryable|Connection lost/i.test(error.message);
}
