import { Logger } from '@nestjs/common';
import type { Database } from '../../../core/database/database.js';
import type { StreamAppend } from '../../../core/event-store/event.js';
import type { PublishingAppender } from '../../../core/projections/publishing-appender.js';
import { Checkpoints } from '../../../core/projections/checkpoints.js';
import { compareCheckpoints, LOG_START } from '../../../core/projections/log-position.js';
import type { ProjectionRuntime } from '../../../core/projections/projection-runtime.js';
import type { JsonValue, PipelinePlan, QueryLimits } from '../../../core/query/index.js';
import { CATALOG_STREAM, recordStreamId, type CatalogState, type FlowEntry } from '../domain/catalog.js';
import type { CatalogActors, CatalogView } from '../application/catalog-view.js';
import { FLOW_CLOCK_TICKED, FLOW_FLUSH_REQUESTED, FLOW_LOG_STREAM, flowControlStreamId, flowKey, FlowProjector, type OutboxAppend } from './flow-projector.js';

export type FlowManagerOptions = {
  /** Engine bounds of each flow (groups, window contents…): past one the flow pauses, with an error in `_log`. */
  limits: Partial<QueryLimits>;
  /** How often outbox rows left behind (a crash, another process, a failed delivery) are looked for. */
  sweepMs: number;
};

/** Longest a timer may be set for (setTimeout's bound); a later ttl is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long after an arrival-time window's end its tick is appended: records committed just before it still land in it. */
const TICK_GRACE_MS = 250;

type Running = {
  projector: FlowProjector;
  ttl?: NodeJS.Timeout;
  owned?: boolean;
  /** The window end it last ticked for, and how often (a tick that committed before that end by the database's clock is tried again). */
  ticked?: { at: number; attempts: number; sentAt: number };
};

/**
 * Runs the catalog's flows: one async projector of the core runtime per live flow generation (so one
 * process runs each flow at a time, and another takes over when it dies), registered and unregistered as
 * the catalog changes; delivers what the flows' batches put in the outbox; ends flows whose ttl passed.
 */
export class FlowManager {
  private readonly logger = new Logger(FlowManager.name);
  private readonly running = new Map<string, Running>();
  private readonly checkpoints: Checkpoints;
  private readonly deliveries = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private unsubscribe?: () => void;
  private sweeper?: NodeJS.Timeout;
  private reconciling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly appender: PublishingAppender,
    private readonly projections: ProjectionRuntime,
    private readonly catalog: CatalogView,
    private readonly catalogActors: CatalogActors,
    private readonly options: FlowManagerOptions = { limits: {}, sweepMs: 1000 },
  ) {
    this.checkpoints = new Checkpoints(db);
  }

  /** Registers the flows the catalog holds (call after the catalog view started), then follows its changes. */
  async start(): Promise<void> {
    this.unsubscribe = this.catalog.onChange(() => void this.reconcile());
    await this.reconcile();
    this.sweeper = setInterval(() => void this.sweep(), this.options.sweepMs);
    this.sweeper.unref();
    void this.sweep();
  }

  /** Stops following the catalog and delivering (the projectors stop with the projection runtime). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.sweeper);
    for (const { ttl } of this.running.values()) clearTimeout(ttl);
    await this.reconciling.catch(() => undefined);
    await Promise.all([...this.deliveries.values()].map((d) => d.catch(() => undefined)));
  }

  get count(): number {
    return this.running.size;
  }

  /**
   * Has every flow over `source` emit its open windows: a request in the log, which each flow handles in
   * its place among the source's records (so a replay flushes at the same point). Returns how many flows.
   */
  async flush(source: string): Promise<number> {
    const flows = Object.values(this.catalog.current.flows).filter((f) => f.plan && f.source === source);
    const generations = [...new Set(flows.map((f) => f.sourceGeneration ?? 0))];
    if (generations.length === 0) return 0;
    await this.appender.appendMany(
      generations.map((generation) => ({ streamId: flowControlStreamId(source, generation), expected: 'any' as const, events: [{ type: FLOW_FLUSH_REQUESTED, data: { at: new Date().toISOString() } }] })),
    );
    return flows.length;
  }

  /** Which flows are paused at a bound, by flow name (with the reason). */
  async paused(): Promise<Map<string, string>> {
    const keys = Object.entries(this.catalog.current.flows).map(([name, f]) => flowKey(name, f.generation));
    if (keys.length === 0) return new Map();
    const rows = await this.db.query<{ flow: string; paused: string }>(`SELECT flow, paused FROM stream_flow_states WHERE flow = ANY($1::text[]) AND paused IS NOT NULL`, [keys]);
    return new Map(rows.map((r) => [r.flow.split(':')[1], r.paused]));
  }

  private reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(() => this.apply(this.catalog.current)).catch((error: unknown) => this.logger.error(`flows: ${(error as Error).message}`));
    return this.reconciling;
  }

  private async apply(state: CatalogState): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, [string, FlowEntry & { plan: PipelinePlan }]>();
    for (const [name, entry] of Object.entries(state.flows)) {
      if (entry.plan) wanted.set(flowKey(name, entry.generation), [name, entry as FlowEntry & { plan: PipelinePlan }]);
    }
    for (const [key, running] of this.running) {
      if (wanted.has(key)) continue;
      clearTimeout(running.ttl);
      this.running.delete(key);
      await this.projections.unregister(key);
      this.logger.log(`flow ${key} stopped`);
    }
    await this.forgetDeadStates(state, wanted);
    for (const [key, [name, entry]] of wanted) {
      if (this.running.has(key)) continue;
      const projector = new FlowProjector(name, entry, {
        lookup: (lookup) => (Object.hasOwn(this.catalog.current.lookups, lookup) ? (this.catalog.current.lookups[lookup].value as JsonValue) : undefined),
        limits: this.options.limits,
        written: (flow) => setImmediate(() => this.deliver(flow)),
      });
      await this.prepare(projector, entry);
      if (this.stopped || this.running.has(key)) continue;
      const running: Running = { projector };
      this.running.set(key, running);
      this.projections.register(projector);
      this.armTtl(name, entry, running);
    }
  }

  /**
   * Drops the state rows (window contents, scan state) of flow generations the catalog deleted or replaced,
   * once their outbox is delivered. Generations are never reused, so a row of a generation this catalog
   * already counted that it does not hold is dead, even if this process's catalog is behind another's.
   */
  private async forgetDeadStates(state: CatalogState, wanted: ReadonlyMap<string, unknown>): Promise<void> {
    const rows = await this.db.query<{ flow: string }>(`SELECT flow FROM stream_flow_states`);
    const dead = rows.map((r) => r.flow).filter((flow) => !wanted.has(flow) && Number(flow.split(':').at(-1)) <= state.generations);
    if (dead.length === 0) return;
    await this.db.query(
      `DELETE FROM stream_flow_states s WHERE s.flow = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM stream_flow_outbox o WHERE o.flow = s.flow)`,
      [dead],
    );
  }

  /**
   * Its state row (so a batch always has a row to lock), and its checkpoint: a new flow starts at the log
   * as it stood when the flow was defined rather than at the log's start (it only wants later records).
   */
  private async prepare(projector: FlowProjector, entry: FlowEntry): Promise<void> {
    await this.db.query(`INSERT INTO stream_flow_states (flow, state, token) VALUES ($1, NULL, '') ON CONFLICT (flow) DO NOTHING`, [projector.name]);
    const from = entry.logFrom;
    if (!from) return;
    const row = await this.checkpoints.ensure(projector);
    if (compareCheckpoints(row, LOG_START) !== 0) return;
    // Moved only while still at the start: a runner elsewhere that read the old row finds it moved and rereads it.
    await this.db.transaction(async (tx) => {
      const locked = await this.checkpoints.lock(tx, projector.name);
      if (locked && compareCheckpoints(locked, LOG_START) === 0) await this.checkpoints.move(tx, projector.name, from);
    });
  }

  private armTtl(name: string, entry: FlowEntry, running: Running): void {
    if (entry.ttlMs === undefined) return;
    const left = Date.parse(entry.createdAt) + entry.ttlMs - Date.now();
    if (left > 0) {
      running.ttl = setTimeout(() => (left > MAX_TIMER_MS ? this.armTtl(name, entry, running) : void this.expire(name, entry.generation)), Math.min(left, MAX_TIMER_MS));
      running.ttl.unref();
      return;
    }
    void this.expire(name, entry.generation);
  }

  /** Deletes the flow (this generation only: a replaced flow has a ttl of its own); every process may try, one succeeds. */
  private async expire(name: string, generation: number): Promise<void> {
    if (this.stopped) return;
    try {
      await this.catalogActors.tell(CATALOG_STREAM, { kind: 'delete_flow', name, generation });
      await this.catalog.refresh();
      this.logger.log(`flow ${name} ended: its ttl passed`);
    } catch (error) {
      if ((error as { code?: string }).code !== 'FLOW_NOT_FOUND') this.logger.warn(`could not end flow ${name} at its ttl: ${(error as Error).message}`);
    }
  }

  /**
   * Appends a clock tick for each flow this process runs whose open arrival-time window has ended (by
   * the wall clock, with a grace) and heard no record since: the window closes when its time passes.
   * Keyed by flow and window end, so two processes (one just taking over) append one tick.
   */
  private async tick(): Promise<void> {
    const due: StreamAppend[] = [];
    for (const [key, running] of this.running) {
      const owned = this.projections.owns(key);
      if (owned && !running.owned) running.projector.forgetClose(); // just taken over: its windows are in its row
      running.owned = owned;
      if (!owned) continue;
      const at = await running.projector.pendingClose(this.db);
      if (at === null || Date.now() < at + TICK_GRACE_MS) continue;
      const last = running.ticked?.at === at ? running.ticked : undefined;
      if (last && Date.now() < last.sentAt + 2000 * 2 ** Math.min(last.attempts, 5)) continue; // the last tick may still be on its way
      const attempts = last ? last.attempts + 1 : 0;
      running.ticked = { at, attempts, sentAt: Date.now() };
      const { source, sourceGeneration } = running.projector.entry;
      due.push({ streamId: flowControlStreamId(source, sourceGeneration ?? 0), expected: 'any', events: [{ type: FLOW_CLOCK_TICKED, data: { closes: at } }], idempotencyKey: `${key}:tick:${at}:${attempts}` });
    }
    if (due.length > 0) await this.appender.appendMany(due);
  }

  /** Delivers every outbox row of flows that have some (left by a crash, by another process, by a failure). */
  private async sweep(): Promise<void> {
    if (this.stopped) return;
    await this.tick().catch((error: unknown) => this.logger.debug?.(`flow clock tick failed: ${(error as Error).message}`));
    try {
      const rows = await this.db.query<{ flow: string }>(`SELECT DISTINCT flow FROM stream_flow_outbox`);
      await Promise.all(rows.map((r) => this.deliver(r.flow)));
    } catch (error) {
      this.logger.debug?.(`outbox sweep failed: ${(error as Error).message}`);
    }
  }

  /** One delivery at a time per flow; asked again while running, it runs once more after. */
  deliver(flow: string): Promise<void> {
    const current = this.deliveries.get(flow);
    if (current) {
      this.again.add(flow);
      return current;
    }
    const run = (async () => {
      try {
        do {
          this.again.delete(flow);
          await this.deliverAll(flow);
        } while (this.again.has(flow) && !this.stopped);
      } catch (error) {
        this.logger.warn(`flow ${flow}: delivery failed (${(error as Error).message}); retrying`);
      } finally {
        this.deliveries.delete(flow);
      }
    })();
    this.deliveries.set(flow, run);
    return run;
  }

  /**
   * Appends the flow's outbox rows in order, each in one appendMany whose entries carry their idempotency
   * keys (a row delivered before, but not yet deleted, is answered from the log and written no second
   * time), publishes what was written, and deletes the row.
   */
  private async deliverAll(flow: string): Promise<void> {
    while (!this.stopped) {
      // Locking the state row waits out a batch of the flow that is still committing.
      const rows = await this.db.transaction(async (tx) => {
        await tx.query(`SELECT 1 FROM stream_flow_states WHERE flow = $1 FOR UPDATE`, [flow]);
        return tx.query<{ id: string; appends: OutboxAppend[] | string }>(`SELECT id::text AS id, appends FROM stream_flow_outbox WHERE flow = $1 ORDER BY id LIMIT 20`, [flow]);
      });
      if (rows.length === 0) return;
      for (const row of rows) {
        if (this.stopped) return;
        const appends = (typeof row.appends === 'string' ? JSON.parse(row.appends) : row.appends) as OutboxAppend[];
        const batch: StreamAppend[] = [];
        for (const append of appends) {
          const streamId = await this.targetStream(append.target);
          if (!streamId) {
            // Deleted since the flow was created: the records cannot land, and that is said in _log (once, by key).
            const flowName = flow.split(':')[1] ?? flow; // the key is flow:<name>:<generation>
            const message = `Stream '${append.target}' does not exist; ${append.records.length} record(s) of flow '${flowName}' not written`;
            this.logger.warn(`flow ${flow}: ${message}`);
            const log = await this.targetStream(FLOW_LOG_STREAM);
            const entry = { timestamp: new Date().toISOString(), level: 'error', code: 'FLOW_TARGET_MISSING', message, flow: flowName };
            if (log) batch.push({ streamId: log, expected: 'any', events: [{ type: 'RecordInserted', data: entry }], idempotencyKey: `${append.key}:missing` });
            continue;
          }
          batch.push({ streamId, expected: 'any', events: append.records.map((data) => ({ type: 'RecordInserted', data })), idempotencyKey: append.key });
        }
        if (batch.length > 0) {
          await this.appender.appendMany(batch);
        }
        await this.db.query(`DELETE FROM stream_flow_outbox WHERE id = $1::bigint`, [row.id]);
      }
    }
  }

  private async targetStream(name: string): Promise<string | undefined> {
    let entry = await this.catalog.stream(name);
    if (!entry && name === FLOW_LOG_STREAM) {
      await this.catalogActors.tell(CATALOG_STREAM, { kind: 'create_stream', name, mode: 'if_not_exists', at: new Date().toISOString() });
      await this.catalog.refresh();
      entry = await this.catalog.stream(name);
    }
    return entry ? recordStreamId(name, entry.generation) : undefined;
  }
}
