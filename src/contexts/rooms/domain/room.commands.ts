import type { RoomValue } from './room.events.js';

export type PushAction = { type: 'relay' } | { type: 'append' } | { type: 'replace' } | { type: 'compact'; seq: number };

export type CreateRoom = { kind: 'create'; roomId: string };
export type Push = { kind: 'push'; key: string; value: RoomValue; action: PushAction; binary?: boolean };

export type RoomCommand = CreateRoom | Push;
