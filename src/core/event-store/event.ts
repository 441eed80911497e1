import { ClosedError, ConflictError, OverloadedError, UnavailableError } from '../errors/domain-errors.js';

/** An event as a decider produces it: a type tag and a JSON payload (emmett's `Event<Type, Data>`). */
export type Event<Type extends string = string, Data = unknown> = Readonly<{
  type: Type;
  data: Data;
  metadata?: Record<string, unknown>;
}>;

/** An event as the log returns it. Positions are plain numbers on both backends (safe up to 2^53). */
export type RecordedEvent<E extends Event = Event> = E &
  Readonly<{
    streamId: string;
    streamPosition: number;
    globalPosition: number;
    transactionId: string;
    recordedAt: Date;
  }>;

/** `any` skips the check; `no_stream`/`stream_exists` test existence; a number is the exact current position. */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

export type StreamAppend = Readonly<{
  streamId: string;
  expected: ExpectedVersion;
  events: readonly Event[];
  /**
   * Names this append (e.g. a client's message id): an append whose key is already in the stream is not
   * written again; it returns the events first recorded. Without one, the store makes one up.
   */
  idempotencyKey?: string;
}>;

export type AppendOptions = {
  idempotencyKey?: string;
  /**
   * An earlier append (of this stream, by this writer) this one was decided after: it is written only once
   * that one committed, never beside it or before it, and fails with PredecessorFailedError if it failed.
   */
  after?: AppendLink;
};

/** An append as submitted, for a later one to be chained after (`AppendOptions.after`). Opaque. */
export type AppendLink = Readonly<{ failed?: boolean }>;


export type AppendResult = Readonly<{
  streamId: string;
  /** The stream's position after the append: pass it as `expected` next time. */
  nextExpectedVersion: number;
  events: RecordedEvent[];
}>;

/** Where a tailing reader stands in the log: ordered by (transaction id, global position). */
export type LogCheckpoint = Readonly<{ transactionId: string; globalPosition: number }>;

export class ConcurrencyError extends ConflictError {
  override readonly name = 'ConcurrencyError';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(`stream ${streamId}: expected version ${String(expected)}, actual ${actual}`);
  }
}

/** The append queue is full: the caller should back off (bounded everywhere). */
export class EventStoreOverloadedError extends OverloadedError {
  override readonly name = 'EventStoreOverloadedError';
}

export function matchesExpected(expected: ExpectedVersion, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === 0;
    case 'stream_exists':
      return actual > 0;
    default:
      return expected === actual;
  }
}

/** An append chained after one that failed: it was not written (it was decided on what never landed). */
export class PredecessorFailedError extends ConflictError {
  override readonly name = 'PredecessorFailedError';
  constructor(readonly streamId: string) {
    super(`stream ${streamId}: not written, the append it was decided after failed`);
  }
}

/** The store is shutting down and takes no more appends. */
export class EventStoreClosedError extends ClosedError {
  override readonly name = 'EventStoreClosedError';
}

/**
 * The connection was lost while a write was in flight, and whether it committed could not be found out:
 * it may or may not be in the log. Retrying with the same idempotency keys is safe (a no-op if it landed).
 */
export class AppendOutcomeUnknownError extends UnavailableError {
  override readonly name = 'AppendOutcomeUnknownError';
  constructor(
    /** One per stream append of the unit, in order: pass them again as `idempotencyKey` to retry. */
    readonly idempotencyKeys: readonly string[],
    readonly cause: unknown,
  ) {
    super(`append outcome unknown (connection lost: ${(cause as Error)?.message ?? String(cause)}); retry with the same idempotency key`);
  }
}

export type { InlineHandler } from './inline-handler.js';
