import type { SqlSession } from '../database/database.js';
import type { RecordedEvent } from './event.js';

/**
 * Runs inside the transaction that appends the events it handles, after their insert: what it writes
 * commits with them or not at all. A handler that throws fails the appends whose events it was given.
 */
export type InlineHandler = {
  name: string;
  /** Asked for each event appended: keep it cheap, it runs on the append path. */
  handles(event: { streamId: string; type: string }): boolean;
  handle(tx: SqlSession, events: readonly RecordedEvent[]): Promise<void>;
};
