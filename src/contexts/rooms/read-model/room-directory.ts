import type { Database, SqlSession } from '../../../core/database/database.js';
import type { RecordedEvent } from '../../../core/event-store/event.js';
import type { Projector } from '../../../core/projections/projector.js';
import { ROOM_STREAM_PREFIX, roomIdOf } from '../domain/room.events.js';

export type RoomListing = Readonly<{ roomId: string; createdAt: Date; messages: number; lastEventAt: Date }>;

const STORED_MESSAGES = ['MessageAppended', 'StreamReplaced'];

/**
 * Every room in one table (a durable read model, behind the log): whether a room exists is one indexed
 * read instead of loading the room, and rooms can be listed. Its writes commit with its checkpoint.
 */
export const roomDirectoryProjector: Projector = {
  name: 'room-directory',
  version: 1,
  selection: { streamPrefixes: [ROOM_STREAM_PREFIX] },
  readsPayload: false,
  tables: ['room_directory'],
  async handle(tx: SqlSession, events: readonly RecordedEvent[]) {
    // One statement per batch: per room, its creation, how many messages it stored, and where it stands.
    const rooms = new Map<string, { created?: Date; messages: number; position: number; at: Date }>();
    for (const event of events) {
      const roomId = roomIdOf(event.streamId);
      const room = rooms.get(roomId) ?? { messages: 0, position: 0, at: event.recordedAt };
      if (event.type === 'RoomCreated') room.created = event.recordedAt;
      if (STORED_MESSAGES.includes(event.type)) room.messages++;
      room.position = event.streamPosition;
      room.at = event.recordedAt;
      rooms.set(roomId, room);
    }
    const ids = [...rooms.keys()];
    const entries = [...rooms.values()];
    await tx.query(
      `INSERT INTO room_directory (room_id, created_at, messages, last_position, last_event_at)
       SELECT id, COALESCE(created, at), n, p, at FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS r(id, created, n, p, at)
       ON CONFLICT (room_id) DO UPDATE SET messages = room_directory.messages + EXCLUDED.messages,
         last_position = EXCLUDED.last_position, last_event_at = EXCLUDED.last_event_at`,
      [ids, entries.map((r) => r.created ?? null), entries.map((r) => r.messages), entries.map((r) => r.position), entries.map((r) => r.at)],
    );
  },
};

/** Reads of the directory table. */
export class RoomDirectory {
  constructor(private readonly db: Database) {}

  async has(roomId: string): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM room_directory WHERE room_id = $1`, [roomId])).length > 0;
  }

  async list(limit: number, after = ''): Promise<RoomListing[]> {
    const rows = await this.db.query(
      `SELECT room_id, created_at, messages, last_event_at FROM room_directory WHERE room_id > $1 ORDER BY room_id LIMIT $2`,
      [after, limit],
    );
    return rows.map((r) => ({ roomId: r.room_id, createdAt: r.created_at, messages: Number(r.messages), lastEventAt: r.last_event_at }));
  }
}
