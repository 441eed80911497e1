import { Logger } from '@nestjs/common';
import { instantiate, type JsonValue, type Output, type PipelinePlan, type PipelineRuntime, type QueryLimits } from '../../../core/query/index.js';
import type { CatalogView } from './catalog-view.js';
import type { LiveQueryHandle, LiveQueryOutput } from './commands.js';
import type { StreamRecords } from './stream-records.js';

type Running = {
  source: string;
  runtime: PipelineRuntime;
  emit: (outputs: Output[], offset: number | undefined) => void;
  /** The timer that closes the window ending at `tickAt`. */
  tick?: NodeJS.Timeout;
  tickAt?: number;
};

/**
 * How long after an arrival-time window's end (a commit time) its tick waits before closing it: records
 * committed before the end but delivered a little after it still land in it.
 */
const TICK_GRACE_MS = 250;
const MAX_TIMER_MS = 86_400_000;

/**
 * Live queries of this process: a plan run over its source stream's new records, its outputs handed to
 * whoever started it (records) or inserted into their target stream (`insert_into`). A record whose
 * evaluation fails is reported and skipped; the query goes on.
 */
export class LiveQueries {
  private readonly logger = new Logger(LiveQueries.name);
  private readonly running = new Set<Running>();

  constructor(
    private readonly catalog: CatalogView,
    private readonly records: StreamRecords,
    private readonly limits: Partial<QueryLimits> = {},
  ) {}

  async start(plan: PipelinePlan, onOutput: (output: LiveQueryOutput) => void, onError: (message: string, offset?: number) => void): Promise<LiveQueryHandle> {
    const runtime = instantiate(plan, {
      lookup: (name) => (Object.hasOwn(this.catalog.current.lookups, name) ? (this.catalog.current.lookups[name].value as JsonValue) : undefined),
      limits: this.limits,
      onError: (error) => onError(error.message, 'offset' in error ? (error as { offset: number }).offset : undefined),
    });
    let sinks = Promise.resolve();
    const emit = (outputs: Output[], offset: number | undefined) => {
      for (const output of outputs) {
        if (output.kind === 'record') onOutput({ record: output.record, offset });
        else {
          const { target, record } = output;
          sinks = sinks
            .then(() => this.records.insert(target, [record as Record<string, unknown>]))
            .then(() => undefined)
            .catch((error: unknown) => onError(`insert_into(${target}) failed: ${(error as Error).message}`, offset));
        }
      }
    };
    const entry: Running = { source: plan.source, runtime, emit };
    const subscription = await this.records.subscribe(plan.source, 'latest', (delivered) => {
      let outputs: Output[];
      try {
        outputs = runtime.push(delivered.data as JsonValue, { offset: delivered.offset, time: delivered.time });
      } catch (error) {
        onError((error as Error).message, delivered.offset);
        return;
      }
      emit(outputs, delivered.offset);
      this.armTick(entry);
    });
    this.running.add(entry);
    return {
      streamName: plan.source,
      close: () => {
        subscription.close();
        clearTimeout(entry.tick);
        this.running.delete(entry);
      },
    };
  }

  /** Emits every open window of the live queries over `source`; returns how many there were. */
  flush(source: string): number {
    let flushed = 0;
    for (const entry of this.running) {
      if (entry.source !== source) continue;
      flushed++;
      try {
        entry.emit(entry.runtime.flush(), undefined);
      } catch (error) {
        this.logger.warn(`flush of a live query over ${source} failed: ${(error as Error).message}`);
      }
    }
    return flushed;
  }

  /** An arrival-time window closes when its time passes, not only when a later record arrives. */
  private armTick(entry: Running): void {
    const at = entry.runtime.nextClose();
    if (entry.tick && entry.tickAt === at) return; // most records leave the next close where it was: no new timer
    clearTimeout(entry.tick);
    entry.tick = undefined;
    if (at === null) return;
    entry.tickAt = at;
    entry.tick = setTimeout(() => {
      entry.tick = undefined;
      if (!this.running.has(entry)) return;
      if (Date.now() < at) return this.armTick(entry); // a far end: the timer was capped
      try {
        entry.emit(entry.runtime.advance(at), undefined);
      } catch (error) {
        this.logger.warn(`a live query over ${entry.source} failed to close its window: ${(error as Error).message}`);
      }
      this.armTick(entry);
    }, Math.min(Math.max(0, at - Date.now()) + TICK_GRACE_MS, MAX_TIMER_MS));
    entry.tick.unref();
  }

  get count(): number {
    return this.running.size;
  }
}
