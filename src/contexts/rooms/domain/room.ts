import { DomainError, type Decider } from '../../../core/actors/decider.js';
import type { StateCodec } from '../../../core/event-store/snapshot-store.js';
import type { Push, RoomCommand } from './room.commands.js';
import type { RoomEvent } from './room.events.js';
import { SeqList } from './seq-list.js';

/** How many seq numbers one reservation covers: relays cost one write per this many. */
export const RELAY_SEQ_BLOCK = 1000;

/** What the rules need: seq counters and, per key, the retained seqs (values live in the read model). */
export type RoomState = Readonly<{
  exists: boolean;
  /** The last seq issued (relays included). */
  lastSeq: number;
  /** Seqs up to here are durably claimed, by a stored message or a reservation. */
  claimedThrough: number;
  keys: ReadonlyMap<string, KeyState>;
}>;

export type KeyState = Readonly<{ seqs: SeqList; compactedThrough: number }>;

const EMPTY_KEY: KeyState = { seqs: SeqList.EMPTY, compactedThrough: 0 };

export const initialRoomState = (): RoomState => ({ exists: false, lastSeq: 0, claimedThrough: 0, keys: new Map() });

export function decideRoom(command: RoomCommand, state: RoomState): RoomEvent[] {
  if (command.kind === 'create') {
    if (state.exists) throw new DomainError(`room ${command.roomId} already exists`, 'room_exists');
    return [{ type: 'RoomCreated', data: { roomId: command.roomId } }];
  }
  if (!state.exists) throw new DomainError('room not found', 'room_not_found');
  return decidePush(command, state);
}

function decidePush(push: Push, state: RoomState): RoomEvent[] {
  const { key, value } = push;
  const binary = push.binary ? { binary: true } : {};
  const entry = state.keys.get(key) ?? EMPTY_KEY;
  const seq = state.lastSeq + 1;
  switch (push.action.type) {
    case 'append':
      return [{ type: 'MessageAppended', data: { key, value, seq, size: entry.seqs.size + 1, ...binary } }];
    case 'replace':
      return [{ type: 'StreamReplaced', data: { key, value, seq, ...binary } }];
    case 'relay': {
      const relayed: RoomEvent = { type: 'MessageRelayed', data: { key, value, seq, size: entry.seqs.size, ...binary } };
      if (seq <= state.claimedThrough) return [relayed];
      return [{ type: 'SeqBlockReserved', data: { through: seq + RELAY_SEQ_BLOCK - 1 } }, relayed];
    }
    case 'compact': {
      const at = push.action.seq;
      if (!Number.isSafeInteger(at) || at < 1) throw new DomainError('compact needs a positive integer seq', 'invalid_seq');
      if (at > state.lastSeq) throw new DomainError(`compact seq ${at} is ahead of the room's last seq ${state.lastSeq}`, 'invalid_seq');
      // Compacting to a point the key was already compacted past changes nothing (as in DriftDB).
      if (at <= entry.compactedThrough) return [];
      const size = entry.seqs.countAbove(at) + 1;
      return [{ type: 'StreamCompacted', data: { key, value, seq: at, size, ...binary } }];
    }
  }
}

export function evolveRoom(state: RoomState, event: RoomEvent): RoomState {
  switch (event.type) {
    case 'RoomCreated':
      return { ...state, exists: true };
    case 'SeqBlockReserved':
      return { ...state, claimedThrough: Math.max(state.claimedThrough, event.data.through) };
    case 'MessageRelayed':
      return { ...state, lastSeq: Math.max(state.lastSeq, event.data.seq) };
    case 'MessageAppended':
    case 'StreamReplaced':
    case 'StreamCompacted': {
      const { key, seq } = event.data;
      const entry = state.keys.get(key) ?? EMPTY_KEY;
      const next: KeyState =
        event.type === 'MessageAppended'
          ? { ...entry, seqs: entry.seqs.append(seq) }
          : event.type === 'StreamReplaced'
            ? { ...entry, seqs: SeqList.of(seq) }
            : { compactedThrough: seq, seqs: entry.seqs.compactTo(seq) };
      const keys = new Map(state.keys).set(key, next);
      const lastSeq = Math.max(state.lastSeq, seq);
      return { exists: state.exists, lastSeq, claimedThrough: Math.max(state.claimedThrough, lastSeq), keys };
    }
  }
}

/** After a push: how many entries the key retains (DriftDB's `stream_size`). */
export function retainedSize(event: RoomEvent): number | undefined {
  switch (event.type) {
    case 'MessageAppended':
    case 'StreamCompacted':
    case 'MessageRelayed':
      return event.data.size;
    case 'StreamReplaced':
      return 1;
    default:
      return undefined;
  }
}

type RoomStateJson = { exists: boolean; lastSeq: number; claimedThrough: number; keys: [key: string, seqs: number[], compactedThrough: number][] };

export const roomStateCodec: StateCodec<RoomState> = {
  kind: 'room',
  version: 1,
  encode: (state): RoomStateJson => ({
    exists: state.exists,
    lastSeq: state.lastSeq,
    claimedThrough: state.claimedThrough,
    keys: [...state.keys].map(([key, { seqs, compactedThrough }]) => [key, seqs.toArray(), compactedThrough]),
  }),
  decode: (json) => {
    const { exists, lastSeq, claimedThrough, keys } = json as RoomStateJson;
    return { exists, lastSeq, claimedThrough, keys: new Map(keys.map(([key, seqs, compactedThrough]) => [key, { seqs: SeqList.from(seqs), compactedThrough }])) };
  },
};

export const roomDecider: Decider<RoomState, RoomCommand, RoomEvent> = {
  initialState: initialRoomState,
  decide: decideRoom,
  evolve: evolveRoom,
  isTransient: (event) => event.type === 'MessageRelayed',
  rehydrated: resumeNumbering,
  snapshot: roomStateCodec,
};

/** Relays are not in the log: after a reload, numbering resumes above everything that may have been issued. */
export function resumeNumbering(state: RoomState): RoomState {
  return { ...state, lastSeq: Math.max(state.lastSeq, state.claimedThrough) };
}
