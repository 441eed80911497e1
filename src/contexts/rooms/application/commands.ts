import { Command, Query } from '@nestjs/cqrs';
import type { PushAction } from '../domain/room.commands.js';
import type { RoomValue } from '../domain/room.events.js';
import type { RoomListing } from '../read-model/room-directory.js';
import type { Entry } from '../read-model/room-views.js';

export class CreateRoomCommand extends Command<{ roomId: string }> {
  constructor(readonly roomId: string) {
    super();
  }
}

/** What a push left behind: the key's retained size (DriftDB's `stream_size`). */
export type PushOutcome = { size: number };

export class PushToRoomCommand extends Command<PushOutcome> {
  constructor(
    readonly roomId: string,
    readonly key: string,
    readonly value: RoomValue,
    readonly action: PushAction,
    readonly binary = false,
  ) {
    super();
  }
}

export class RoomExistsQuery extends Query<boolean> {
  constructor(readonly roomId: string) {
    super();
  }
}

export class GetStreamQuery extends Query<Entry[]> {
  constructor(
    readonly roomId: string,
    readonly key: string,
    readonly afterSeq = 0,
    /**
     * Read the room's log first, so another server's acknowledged pushes are in the answer. For a reader
     * that hears no broadcasts (HTTP); a socket's `get` must not, or its answer would overlap the
     * broadcasts already sent to it.
     */
    readonly fresh = false,
  ) {
    super();
  }
}

export class GetRoomStreamsQuery extends Query<Map<string, Entry[]>> {
  constructor(readonly roomId: string) {
    super();
  }
}

/** Rooms in id order after `after` (the directory read model: it may lag the log by a moment). */
export class ListRoomsQuery extends Query<RoomListing[]> {
  constructor(
    readonly limit = 100,
    readonly after = '',
  ) {
    super();
  }
}
