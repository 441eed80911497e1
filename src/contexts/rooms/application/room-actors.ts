import { ActorSystem } from '../../../core/actors/actor-system.js';
import type { RoomCommand } from '../domain/room.commands.js';
import type { RoomEvent } from '../domain/room.events.js';
import type { RoomState } from '../domain/room.js';

/** The injection token for the rooms' actor system: one actor (mailbox) per room. */
export class RoomActors extends ActorSystem<RoomState, RoomCommand, RoomEvent> {}

/** The injection token for the rooms read model's change channel (one channel per room id). */
export const ROOM_CHANGES = Symbol('ROOM_CHANGES');
