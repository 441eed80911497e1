import type { Decider } from '../../../core/actors/decider.js';
import type { Event } from '../../../core/event-store/event.js';

export type StreamRecord = Record<string, unknown>;

export type RecordInserted = Event<'RecordInserted', StreamRecord>;

/**
 * Points of a metric stream deleted (NSDb's `DELETE FROM m WHERE …`): every point before this event's
 * position that matches `where` (a metrics `MetricCondition`, times already resolved). The records stay
 * in the log; the metrics read model drops them.
 */
export type PointsDeleted = Event<'PointsDeleted', { where: unknown; at: string }>;

export type RecordStreamEvent = RecordInserted | PointsDeleted;

export type InsertRecords = { records: readonly StreamRecord[]; deletePoints?: { where: unknown; at: string } };

/**
 * A record stream keeps nothing but its position (the actor's version): every record is one event, so
 * its offset is its stream position, and a batch is one append, all of it or none.
 */
export const recordStreamDecider: Decider<null, InsertRecords, RecordStreamEvent> = {
  initialState: () => null,
  decide: ({ records, deletePoints }) => [
    ...records.map((data): RecordStreamEvent => ({ type: 'RecordInserted', data })),
    ...(deletePoints ? [{ type: 'PointsDeleted', data: deletePoints } as const] : []),
  ],
  evolve: (state) => state,
  snapshot: { kind: 'stream-records', version: 1, encode: () => null, decode: () => null },
};
