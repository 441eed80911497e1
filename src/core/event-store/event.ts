import { ClosedError, ConflictError, OverloadedError } from '../errors/domain-errors.js';

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
}>;

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

/** The store is shutting down and takes no more appends. */
export class EventStoreClosedError extends ClosedError {
  override readonly name = 'EventStoreClosedError';
}
