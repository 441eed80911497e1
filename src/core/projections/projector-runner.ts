import { Logger } from '@nestjs/common';
import { isConnectionError, type Database, type HeldLock } from '../database/database.js';
import { UnavailableError } from '../errors/domain-errors.js';
import type { LogCheckpoint, RecordedEvent } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import { Checkpoints, type StoredCheckpoint } from './checkpoints.js';
import { checkpointOf, compareCheckpoints, LOG_START } from './log-position.js';
import type { Projector, ProjectorFailure } from './projector.js';

export type RunnerOptions = {
  /** Most log rows read, and events handled, per transaction. */
  batchSize: number;
  /** Most payload bytes handled per transaction (a larger event still goes, alone); 8 MiB when absent. */
  maxBatchBytes?: number;
  /** How often it looks at the log without being woken (transactions that were still open, other processes). */
  pollMs: number;
  /** How often a process that does not own the projector tries to take it over. */
  lockRetryMs: number;
  /** Longest wait between retries of an event the handler threw on. */
  maxBackoffMs: number;
};

const DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024;

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = { batchSize: 2000, maxBatchBytes: DEFAULT_MAX_BATCH_BYTES, pollMs: 250, lockRetryMs: 1000, maxBackoffMs: 30_000 };

/** The checkpoint row is not where this process left it: someone rebuilt the projector, or another process ran it. */
class CheckpointMovedError extends Error {
  constructor(readonly found: StoredCheckpoint | undefined) {
    super('projector checkpoint moved');
  }
}

type Waiter = { target: LogCheckpoint; resolve: () => void };

/** How long a position a skip moved (no selected events) may go unwritten: what other processes' waits see. */
const SKIP_PERSIST_MS = 1000;

/**
 * Runs one async projector behind the log: takes its lock (one process at a time, across processes),
 * reads the log from the checkpoint in tail-safe order, and commits each batch's table writes with the
 * new checkpoint in one transaction. A batch whose handler throws is retried event by event, so the
 * events before the bad one land; the bad one is retried with backoff and never skipped.
 */
export class ProjectorRunner {
  private readonly logger: Logger;
  private readonly checkpoints: Checkpoints;
  /** Where its tables stand (the row as this process last wrote or read it). */
  private committed: LogCheckpoint = LOG_START;
  /** How far it has read: at or after `committed`; events in between were not selected. */
  private cursor: LogCheckpoint = LOG_START;
  private persistedAt = 0;
  private lock?: HeldLock;
  private owned = false;
  private stopped = false;
  private running = false;
  private again = false;
  private poll?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private failure?: ProjectorFailure;
  /** Reads of the log that failed in a row; until `readRetryAt` wake-ups wait instead of reading again. */
  private readFailures = 0;
  private readRetryAt = 0;
  private readRetry?: NodeJS.Timeout;
  private gathering?: NodeJS.Timeout;
  private readonly waiters = new Set<Waiter>();
  private rebuildRequests: (() => void)[] = [];
  private started?: Promise<void>;

  constructor(
    readonly projector: Projector,
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly options: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    this.logger = new Logger(`Projector ${projector.name}`);
    this.checkpoints = new Checkpoints(db);
  }

  get isOwner(): boolean {
    return this.owned;
  }

  get position(): LogCheckpoint {
    return this.cursor;
  }

  get lastFailure(): ProjectorFailure | undefined {
    return this.failure;
  }

  /** Starts trying to own the projector; resolves once this process owns it or gave up its first try. */
  start(): Promise<void> {
    this.started ??= this.acquire();
    return this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    clearTimeout(this.retry);
    clearTimeout(this.readRetry);
    clearTimeout(this.gathering);
    while (this.running) await new Promise((r) => setTimeout(r, 10));
    await this.lock?.release();
    this.owned = false;
  }

  wake(): void {
    if (this.stopped || !this.owned) return;
    const gather = this.projector.gatherMs ?? 0;
    if (gather > 0 && !this.running) {
      // (while a batch runs, `again` already gathers what comes in meanwhile)
      if (this.gathering) return;
      this.gathering = setTimeout(() => {
        this.gathering = undefined;
        this.wakeNow();
      }, gather);
      this.gathering.unref();
      return;
    }
    this.wakeNow();
  }

  private wakeNow(): void {
    if (this.stopped || !this.owned) return;
    const wait = this.readFailures > 0 ? this.readRetryAt - Date.now() : 0;
    if (wait > 0) {
      // The log could not be read just now: every commit and notification must not become a read (and a warning).
      this.readRetry ??= setTimeout(() => {
        this.readRetry = undefined;
        this.wake();
      }, wait);
      this.readRetry.unref();
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.catchUp().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.wakeNow();
      }
    });
  }

  /** Empties its tables and replays the log, between two of its batches (only while this process owns it). */
  rebuild(): Promise<void> {
    return new Promise((resolve) => {
      this.rebuildRequests.push(resolve);
      this.wake();
    });
  }

  /** Resolves once this runner has read past `target` (its selected events up to there are committed). */
  reached(target: LogCheckpoint): Promise<void> | undefined {
    if (compareCheckpoints(this.cursor, target) >= 0) return Promise.resolve();
    if (!this.owned) return undefined;
    // A position of events it does not select woke no read of it: the wait does.
    this.wake();
    return new Promise((resolve) => this.waiters.add({ target, resolve }));
  }

  forget(resolve: () => void): void {
    for (const waiter of this.waiters) if (waiter.resolve === resolve) this.waiters.delete(waiter);
  }

  private async acquire(firstTry = true): Promise<void> {
    while (!this.stopped) {
      try {
        this.lock = await this.db.tryLock(`tideline_projector:${this.projector.name}`);
      } catch (error) {
        this.logger.debug?.(`cannot take the projector's lock yet: ${(error as Error).message}`);
      }
      if (this.lock) break;
      if (firstTry) {
        // Someone else runs it: keep trying in the background, without holding up the caller.
        void this.acquire(false);
        return;
      }
      await new Promise((r) => setTimeout(r, this.options.lockRetryMs));
    }
    if (this.stopped || !this.lock) return;
    const lock = this.lock;
    void lock.released.then(() => this.lost(lock));
    await this.prepare();
    if (this.stopped) return;
    this.owned = true;
    this.poll = setInterval(() => this.wake(), this.options.pollMs);
    this.poll.unref();
    this.wake();
  }

  private lost(lock: HeldLock): void {
    if (this.stopped || this.lock !== lock) return;
    this.logger.warn('lost the projector lock (its connection closed); trying to take it again');
    this.owned = false;
    this.lock = undefined;
    clearInterval(this.poll);
    void this.acquire(false);
  }

  /** Creates its checkpoint on first sight; a new version empties its tables and replays from the start. */
  private async prepare(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        let row = await this.checkpoints.ensure(this.projector);
        if (row.version !== this.projector.version) {
          this.logger.log(`version ${row.version} → ${this.projector.version}: rebuilding from the start of the log`);
          await this.db.transaction(async (tx) => {
            await this.checkpoints.lock(tx, this.projector.name);
            await this.checkpoints.reset(tx, this.projector);
          });
          row = { ...LOG_START, version: this.projector.version };
        }
        this.committed = this.cursor = { transactionId: row.transactionId, globalPosition: row.globalPosition };
        return;
      } catch (error) {
        this.logger.warn(`cannot read its checkpoint (${(error as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, this.backoff(attempt)));
      }
    }
  }

  private async catchUp(): Promise<void> {
    try {
      if (this.rebuildRequests.length > 0) await this.reset();
      while (!this.stopped && this.owned) {
        const { streamPrefixes, eventTypes } = this.projector.selection;
        const page = await this.store.readLog(this.cursor, { limit: this.options.batchSize, maxBytes: this.options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, streamPrefixes, eventTypes, payload: this.projector.readsPayload !== false });
        this.readFailures = 0;
        // The read brought only the selection's events; what it passed over still moves the cursor.
        if (page.events.length > 0) {
          if (!(await this.commit(page.events, page.checkpoint))) return;
        } else if (page.scanned > 0) {
          this.cursor = page.checkpoint;
          if (Date.now() - this.persistedAt > SKIP_PERSIST_MS && !(await this.commit([], page.checkpoint))) return;
        }
        this.settleWaiters();
        if (!page.more) return;
      }
    } catch (error) {
      this.readFailures++;
      this.readRetryAt = Date.now() + this.backoff(this.readFailures - 1);
      if (this.readFailures === 1 || this.readFailures % 20 === 0) {
        this.logger.warn(`cannot read the log (${(error as Error).message}); retrying (${this.readFailures} failed reads in a row)`);
      }
    }
  }

  private async reset(): Promise<void> {
    const requests = this.rebuildRequests.splice(0);
    await this.db.transaction(async (tx) => {
      await this.checkpoints.lock(tx, this.projector.name);
      await this.checkpoints.reset(tx, this.projector);
    });
    this.committed = this.cursor = LOG_START;
    this.logger.log('rebuilding from the start of the log');
    requests.forEach((resolve) => resolve());
  }

  /** Whether the batch landed; on a failure it has arranged its own retry. */
  private async commit(events: readonly RecordedEvent[], to: LogCheckpoint): Promise<boolean> {
    try {
      await this.write(events, to);
      if (this.failure) this.logger.log(`handled event ${this.failure.globalPosition} after ${this.failure.attempts} attempts`);
      this.failure = undefined;
      return true;
    } catch (error) {
      if (error instanceof CheckpointMovedError) {
        this.logger.log('its checkpoint was moved (rebuilt, or written by another process): reading from there');
        const found = error.found ?? LOG_START;
        this.committed = this.cursor = { transactionId: found.transactionId, globalPosition: found.globalPosition };
        this.again = true;
        return false;
      }
      if (events.length > 1) {
        // Find the event that fails: those before it land, one transaction each.
        for (const event of events) if (!(await this.commit([event], checkpointOf(event)))) return false;
        this.cursor = to;
        return true;
      }
      this.fail(events[0], error);
      return false;
    }
  }

  private async write(events: readonly RecordedEvent[], to: LogCheckpoint): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.checkpoints.lock(tx, this.projector.name);
      if (!row || row.version !== this.projector.version || compareCheckpoints(row, this.committed) !== 0) throw new CheckpointMovedError(row);
      if (events.length > 0) await this.projector.handle(tx, events);
      await this.checkpoints.move(tx, this.projector.name, to);
    });
    this.committed = this.cursor = to;
    this.persistedAt = Date.now();
  }

  private fail(event: RecordedEvent | undefined, error: unknown): void {
    const attempts = (this.failure?.attempts ?? 0) + 1;
    const message = error instanceof Error ? error.message : String(error);
    const at = event ?? { globalPosition: this.cursor.globalPosition, streamId: '', streamPosition: 0 };
    this.failure = {
      message,
      globalPosition: at.globalPosition,
      streamId: at.streamId,
      streamPosition: at.streamPosition,
      since: this.failure?.since ?? new Date(),
      attempts,
    };
    const delay = this.backoff(attempts - 1);
    const where = event ? `event ${event.globalPosition} (${event.streamId}@${event.streamPosition}, ${event.type})` : 'its checkpoint';
    // The database being away is not the handler's fault: a warning, not an error.
    const unreachable = error instanceof UnavailableError || isConnectionError(error);
    const log = attempts === 1 || attempts % 10 === 0 ? (unreachable ? 'warn' : 'error') : 'debug';
    this.logger[log]?.(`stopped at ${where}: ${message}; retry ${attempts} in ${delay} ms`);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.wake(), delay);
    this.retry.unref();
  }

  private backoff(attempt: number): number {
    return Math.min(this.options.maxBackoffMs, 100 * 2 ** Math.min(attempt, 20));
  }

  private settleWaiters(): void {
    for (const waiter of this.waiters) {
      if (compareCheckpoints(this.cursor, waiter.target) >= 0) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}
