import type { Event } from '../../../core/event-store/event.js';

/** Values are JSON; byte strings arrive already encoded by the dialect (see `binary`). */
export type RoomValue = unknown;

type Message = { key: string; value: RoomValue; seq: number; binary?: boolean };

export type RoomCreated = Event<'RoomCreated', { roomId: string }>;
/** `size` is how many entries the key retains afterwards. */
export type MessageAppended = Event<'MessageAppended', Message & { size: number }>;
export type StreamReplaced = Event<'StreamReplaced', Message>;
/** Removes the key's entries with seq ≤ `seq` and puts this value first, under that seq. */
export type StreamCompacted = Event<'StreamCompacted', Message & { size: number }>;
/** Transient: broadcast, never stored. Its seq lies within a block reserved by SeqBlockReserved. */
export type MessageRelayed = Event<'MessageRelayed', Message & { size: number }>;
/** Seq numbers up to `through` may be issued without another write; after a restart numbering resumes above. */
export type SeqBlockReserved = Event<'SeqBlockReserved', { through: number }>;

export type RoomEvent = RoomCreated | MessageAppended | StreamReplaced | StreamCompacted | MessageRelayed | SeqBlockReserved;

export type RoomMessageEvent = MessageAppended | StreamReplaced | StreamCompacted | MessageRelayed;

export const ROOM_STREAM_PREFIX = 'room-';
export const roomStreamId = (roomId: string) => `${ROOM_STREAM_PREFIX}${roomId}`;
export const roomIdOf = (streamId: string) => streamId.slice(ROOM_STREAM_PREFIX.length);
export const isRoomStream = (streamId: string) => streamId.startsWith(ROOM_STREAM_PREFIX);

/** Ids Tideline hands out are UUIDs; anything the database could not even store names no room. */
export function isPossibleRoomId(roomId: string): boolean {
  return roomId.length > 0 && roomId.length <= 200 && !roomId.includes('\u0000') && roomId.isWellFormed();
}
