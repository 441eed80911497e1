import type { SqlSession } from '../database/database.js';
import type { RecordedEvent } from '../event-store/event.js';

/** Which events a projector handles: any of these stream prefixes (all streams when absent) and types (all when absent). */
export type EventSelection = Readonly<{ streamPrefixes?: readonly string[]; eventTypes?: readonly string[] }>;

/**
 * A named, versioned handler of events that keeps a read model in its own tables. `handle` runs inside
 * the transaction that also moves the projector's checkpoint (async) or that appends the events (inline),
 * so its writes and its position never part. Bumping `version` empties `tables` and replays the log.
 */
export interface Projector {
  readonly name: string;
  readonly version: number;
  readonly selection: EventSelection;
  /** Its read-model tables, emptied on rebuild (created by its context's migrations). */
  readonly tables: readonly string[];
  /** What a rebuild empties besides `tables`: rows it keeps in a table shared with others (in the rebuild's transaction). */
  reset?(tx: SqlSession): Promise<void>;
  /** `inline` runs in the append's own transaction (never lags; its failure fails the append). Default `async`. */
  readonly mode?: 'async' | 'inline';
  /** false: its (async) events come without `data` and `metadata`, when names, positions and times are all it reads. */
  readonly readsPayload?: boolean;
  /**
   * An async projector that pays per batch (a flow's state and outbox) may gather: a commit wakes it this
   * many ms later, so the records of several commits go in one batch. Default 0 (at once).
   */
  readonly gatherMs?: number;
  handle(tx: SqlSession, events: readonly RecordedEvent[]): Promise<void>;
}

export function selects(selection: EventSelection, event: { streamId: string; type: string }): boolean {
  const { streamPrefixes, eventTypes } = selection;
  if (eventTypes && !eventTypes.includes(event.type)) return false;
  return !streamPrefixes || streamPrefixes.some((prefix) => event.streamId.startsWith(prefix));
}

/** The projector stopped at an event its handler threw on; it retries that event, never skips it. */
export type ProjectorFailure = Readonly<{ message: string; globalPosition: number; streamId: string; streamPosition: number; since: Date; attempts: number }>;

/** What `/health` and the ProjectionStatusQuery tell of one projector. */
export type ProjectorStatus = Readonly<{
  name: string;
  version: number;
  mode: 'async' | 'inline';
  /** Whether this process runs it (only one process does at a time). */
  owned: boolean;
  /** The global position of the last event its read model reflects (as far as this process knows). */
  position: number;
  /** Events in the log after it (approximate: by global position). */
  lag: number;
  failure?: ProjectorFailure;
}>;

export class ProjectionTimeoutError extends Error {
  override readonly name = 'ProjectionTimeoutError';
}
