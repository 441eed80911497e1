import { randomUUID } from 'node:crypto';
import type { SqlSession } from '../../../core/database/database.js';
import type { RecordedEvent } from '../../../core/event-store/event.js';
import type { Projector } from '../../../core/projections/projector.js';
import {
  instantiate,
  QueryLimitError,
  type JsonValue,
  type Output,
  type PipelinePlan,
  type PipelineRuntime,
  type QueryEvaluationError,
  type QueryLimits,
} from '../../../core/query/index.js';
import { recordStreamId, type FlowEntry } from '../domain/catalog.js';

/** The stream errors of flows go to (the streams context's LOG_STREAM). */
export const FLOW_LOG_STREAM = '_log';

/** Records a flow decided to append to one stream for one source record, under a key naming exactly that. */
export type OutboxAppend = { key: string; target: string; records: JsonValue[] };

/** Where `flush` requests for the flows over one source stream (generation) are appended. */
export function flowControlStreamId(source: string, generation: number): string {
  return `stream-flow-control:${source}:${generation}`;
}

/** Asks every flow over the stream to emit its open windows, in log order among the stream's records. */
export const FLOW_FLUSH_REQUESTED = 'FlowFlushRequested';

/**
 * The clock, in the log: closes the arrival-time windows that ended by its commit time, for every flow
 * over the stream. Appended when a window's end has passed with no record after it, so a replay closes
 * the window at the same point.
 */
export const FLOW_CLOCK_TICKED = 'FlowClockTicked';

/**
 * The plan with its objects' keys in one order: a plan read back from the log (jsonb) has its keys
 * reordered, and a snapshot only restores into the plan it was taken from, key for key.
 */
export function canonicalPlan(plan: PipelinePlan): PipelinePlan {
  const sort = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sort);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sort((value as Record<string, unknown>)[k])]),
    );
  };
  return sort(plan) as PipelinePlan;
}

/** Name of a flow generation's projector, state row and outbox rows. */
export function flowKey(name: string, generation: number): string {
  return `flow:${name}:${generation}`;
}

export type FlowProjectorDeps = {
  lookup: (name: string) => JsonValue | undefined;
  limits: Partial<QueryLimits>;
  /** Called after a batch wrote outbox rows (in the transaction, before it commits). */
  written: (flow: string) => void;
};

/**
 * One generation of a flow as an async projector over its source stream's records. A batch restores the
 * pipeline from the flow's state row (locked), pushes each new record, and writes, in the transaction that
 * moves the checkpoint, the new state and an outbox row of what the records produced (insert_into
 * records, errors for `_log`), each keyed `flow:<name>:<gen>:<offset>:<target>` (a flush has
 * `flush-<global position>` for the offset; errors have `log` for the target). The outbox commits with the
 * state and checkpoint; FlowManager delivers it afterwards under those keys, so a row delivered twice
 * (a crash between its append and its deletion) is written once.
 */
export class FlowProjector implements Projector {
  readonly version = 1;
  readonly tables: readonly string[] = [];
  readonly mode = 'async' as const;
  /** A batch costs its state row and an outbox row: the records of commits 20 ms apart share one. */
  readonly gatherMs = 20;
  readonly name: string;
  readonly selection;
  private readonly sourceStreamId: string;
  private readonly controlStreamId: string;
  private readonly startAfter: number;
  private readonly plan: PipelinePlan;
  /** The runtime as this process last committed it, and the token of that state row. */
  private cached?: { token: string; runtime: PipelineRuntime };
  private errors: (QueryEvaluationError | QueryLimitError)[] = [];
  /** When its open arrival-time windows next close, as of its last batch here (undefined: not known). */
  private closesAt?: number | null;

  constructor(
    readonly flowName: string,
    readonly entry: FlowEntry & { plan: PipelinePlan },
    private readonly deps: FlowProjectorDeps,
  ) {
    this.name = flowKey(flowName, entry.generation);
    this.plan = canonicalPlan(entry.plan);
    this.sourceStreamId = recordStreamId(entry.source, entry.sourceGeneration ?? 0);
    this.controlStreamId = flowControlStreamId(entry.source, entry.sourceGeneration ?? 0);
    this.startAfter = entry.startAfter ?? 0;
    // A prefix also selects longer generations (`…:1` selects `…:12`): handle keeps the exact streams only.
    this.selection = { streamPrefixes: [this.sourceStreamId, this.controlStreamId], eventTypes: ['RecordInserted', FLOW_FLUSH_REQUESTED, FLOW_CLOCK_TICKED] };
  }

  /** A rebuild starts the flow over: no window contents, no scan state, not paused (what it wrote is keyed, so not written twice). */
  async reset(tx: SqlSession): Promise<void> {
    this.cached = undefined;
    await tx.query(`UPDATE stream_flow_states SET state = NULL, token = '', paused = NULL, updated_at = now() WHERE flow = $1`, [this.name]);
  }

  async handle(tx: SqlSession, events: readonly RecordedEvent[]): Promise<void> {
    const mine = events.filter(
      (e) =>
        (e.streamId === this.sourceStreamId && e.type === 'RecordInserted' && e.streamPosition > this.startAfter) ||
        (e.streamId === this.controlStreamId && (e.type === FLOW_FLUSH_REQUESTED || e.type === FLOW_CLOCK_TICKED) && e.globalPosition > (this.entry.logFrom?.globalPosition ?? 0)),
    );
    if (mine.length === 0) return;
    try {
      await this.run(tx, mine);
    } catch (error) {
      this.cached = undefined; // the transaction rolls back: the runtime in memory is ahead of its row
      this.closesAt = undefined;
      throw error;
    }
  }

  /** Forgets when its windows close (another process may have run it since): the next `pendingClose` reads its row. */
  forgetClose(): void {
    this.closesAt = undefined;
  }

  /** The commit time at which its next arrival-time window closes, or null (none open, or paused). */
  async pendingClose(db: SqlSession): Promise<number | null> {
    if (this.closesAt !== undefined) return this.closesAt;
    const [row] = await db.query<{ state: string | null; paused: string | null }>(`SELECT state, paused FROM stream_flow_states WHERE flow = $1`, [this.name]);
    const state = row?.state && !row.paused ? (JSON.parse(row.state) as JsonValue) : undefined;
    this.closesAt = state ? instantiate(this.plan, { lookup: this.deps.lookup, limits: this.deps.limits, onError: () => undefined }, state).nextClose() : null;
    return this.closesAt;
  }

  private async run(tx: SqlSession, events: readonly RecordedEvent[]): Promise<void> {
    const [row] = await tx.query<{ state: string | null; token: string; paused: string | null }>(
      `SELECT state, token, paused FROM stream_flow_states WHERE flow = $1 FOR UPDATE`,
      [this.name],
    );
    if (row?.paused) {
      this.closesAt = null;
      return; // paused at a bound: its records pass by until the flow is replaced
    }
    const runtime =
      this.cached && row && this.cached.token === row.token
        ? this.cached.runtime
        : instantiate(
            this.plan,
            { lookup: this.deps.lookup, limits: this.deps.limits, onError: (error) => this.errors.push(error) },
            row?.state ? (JSON.parse(row.state) as JsonValue) : undefined,
          );
    this.cached = undefined;

    const appends: OutboxAppend[] = [];
    let paused: string | null = null;
    for (const event of events) {
      const control = event.streamId === this.controlStreamId;
      const flush = control && event.type === FLOW_FLUSH_REQUESTED;
      // A flush or a tick is named by its place in the log: it has no offset in the source.
      const offset = control ? null : event.streamPosition;
      const at = control ? `${flush ? 'flush' : 'tick'}-${event.globalPosition}` : String(offset);
      const time = event.recordedAt.getTime();
      this.errors = [];
      const outputs: Output[] = [];
      try {
        if (flush) outputs.push(...runtime.flush());
        else if (control) outputs.push(...runtime.advance(time));
        else {
          outputs.push(...runtime.advance(time));
          outputs.push(...runtime.push(event.data as JsonValue, { offset: event.streamPosition, time }));
        }
      } catch (error) {
        this.errors.push(error as QueryEvaluationError);
      }
      const byTarget = new Map<string, JsonValue[]>();
      for (const output of outputs) {
        if (output.kind !== 'sink') continue; // a flow's results are what it inserts
        const records = byTarget.get(output.target) ?? [];
        records.push(output.record);
        byTarget.set(output.target, records);
      }
      for (const [target, records] of byTarget) appends.push({ key: `${this.name}:${at}:${target}`, target, records });
      if (this.errors.length > 0) {
        const logs = this.errors.map((error) => {
          const limit = error instanceof QueryLimitError;
          if (limit) paused ??= error.message;
          return {
            timestamp: new Date(time).toISOString(),
            level: 'error',
            code: limit ? 'FLOW_PAUSED' : 'FLOW_RECORD_FAILED',
            message: limit ? `Flow '${this.flowName}' paused: ${error.message}` : error.message,
            flow: this.flowName,
            offset,
          };
        });
        appends.push({ key: `${this.name}:${at}:log`, target: FLOW_LOG_STREAM, records: logs });
      }
      if (paused !== null) break;
    }

    const token = randomUUID();
    await tx.query(
      `INSERT INTO stream_flow_states (flow, state, token, paused, updated_at) VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (flow) DO UPDATE SET state = EXCLUDED.state, token = EXCLUDED.token, paused = EXCLUDED.paused, updated_at = now()`,
      [this.name, JSON.stringify(runtime.snapshot()), token, paused],
    );
    if (appends.length > 0) {
      await tx.query(`INSERT INTO stream_flow_outbox (flow, appends) VALUES ($1, $2)`, [this.name, JSON.stringify(appends)]);
      this.deps.written(this.name);
    }
    this.cached = { token, runtime };
    this.closesAt = paused === null ? runtime.nextClose() : null;
  }
}
