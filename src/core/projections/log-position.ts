import type { LogCheckpoint, RecordedEvent } from '../event-store/event.js';

/** Before the first event of the log. */
export const LOG_START: LogCheckpoint = Object.freeze({ transactionId: '0', globalPosition: 0 });

/** Orders checkpoints as a tailing reader meets them: by transaction id (an xid8, beyond 2^53), then position. */
export function compareCheckpoints(a: LogCheckpoint, b: LogCheckpoint): number {
  if (a.transactionId !== b.transactionId) return BigInt(a.transactionId) < BigInt(b.transactionId) ? -1 : 1;
  return a.globalPosition - b.globalPosition;
}

export function checkpointOf(event: Pick<RecordedEvent, 'transactionId' | 'globalPosition'>): LogCheckpoint {
  return { transactionId: event.transactionId, globalPosition: event.globalPosition };
}
