import type { Decider } from '../../../core/actors/decider.js';
import type { Event } from '../../../core/event-store/event.js';

export type StreamRecord = Record<string, unknown>;

export type RecordInserted = Event<'RecordInserted', StreamRecord>;

export type InsertRecords = { records: readonly StreamRecord[] };

/**
 * A record stream keeps nothing but its position (the actor's version): every record is one event, so
 * its offset is its stream position, and a batch is one append, all of it or none.
 */
export const recordStreamDecider: Decider<null, InsertRecords, RecordInserted> = {
  initialState: () => null,
  decide: ({ records }) => records.map((data) => ({ type: 'RecordInserted', data })),
  evolve: (state) => state,
  snapshot: { kind: 'stream-records', version: 1, encode: () => null, decode: () => null },
};
