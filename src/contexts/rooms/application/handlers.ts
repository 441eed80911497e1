import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { DomainError } from '../../../core/actors/decider.js';
import { isPossibleRoomId, roomStreamId, type RoomEvent } from '../domain/room.events.js';
import { retainedSize } from '../domain/room.js';
import { RoomDirectory, type RoomListing } from '../read-model/room-directory.js';
import { RoomViews } from '../read-model/room-views.js';
import {
  CreateRoomCommand,
  GetRoomStreamsQuery,
  GetStreamQuery,
  ListRoomsQuery,
  PushToRoomCommand,
  RoomExistsQuery,
  type PushOutcome,
} from './commands.js';
import { RoomActors } from './room-actors.js';

@CommandHandler(CreateRoomCommand)
export class CreateRoomHandler implements ICommandHandler<CreateRoomCommand> {
  constructor(@Inject(RoomActors) private readonly actors: RoomActors) {}

  async execute({ roomId }: CreateRoomCommand): Promise<{ roomId: string }> {
    await this.actors.tell(roomStreamId(roomId), { kind: 'create', roomId });
    return { roomId };
  }
}

@CommandHandler(PushToRoomCommand)
export class PushToRoomHandler implements ICommandHandler<PushToRoomCommand> {
  constructor(
    @Inject(RoomActors) private readonly actors: RoomActors,
    @Inject(RoomViews) private readonly views: RoomViews,
  ) {}

  async execute({ roomId, key, value, action, binary }: PushToRoomCommand): Promise<PushOutcome> {
    if (!isPossibleRoomId(roomId)) throw new DomainError('room not found', 'room_not_found');
    const events = (await this.actors.tell(roomStreamId(roomId), { kind: 'push', key, value, action, binary })) as unknown as RoomEvent[];
    const message = events.find((e) => retainedSize(e) !== undefined);
    // A compact at or below an earlier one changes nothing: report the key as it stands.
    if (!message) return { size: (await this.views.entries(roomId, key)).length };
    return { size: retainedSize(message)! };
  }
}

@QueryHandler(RoomExistsQuery)
export class RoomExistsHandler implements IQueryHandler<RoomExistsQuery> {
  constructor(@Inject(RoomViews) private readonly views: RoomViews) {}

  /** Opens the room's view (a socket that is told the room exists hears every change from then on). */
  async execute({ roomId }: RoomExistsQuery): Promise<boolean> {
    return this.views.exists(roomId);
  }
}

@QueryHandler(ListRoomsQuery)
export class ListRoomsHandler implements IQueryHandler<ListRoomsQuery> {
  constructor(@Inject(RoomDirectory) private readonly directory: RoomDirectory) {}

  execute({ limit, after }: ListRoomsQuery): Promise<RoomListing[]> {
    return this.directory.list(limit, after);
  }
}

@QueryHandler(GetStreamQuery)
export class GetStreamHandler implements IQueryHandler<GetStreamQuery> {
  constructor(@Inject(RoomViews) private readonly views: RoomViews) {}

  async execute({ roomId, key, afterSeq, fresh }: GetStreamQuery) {
    return this.views.entries(roomId, key, afterSeq, fresh);
  }
}

@QueryHandler(GetRoomStreamsQuery)
export class GetRoomStreamsHandler implements IQueryHandler<GetRoomStreamsQuery> {
  constructor(@Inject(RoomViews) private readonly views: RoomViews) {}

  async execute({ roomId }: GetRoomStreamsQuery) {
    return this.views.allKeys(roomId);
  }
}
