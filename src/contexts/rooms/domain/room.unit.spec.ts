import { DomainError } from '../../../core/actors/decider.js';
import type { PushAction, RoomCommand } from './room.commands.js';
import type { RoomEvent } from './room.events.js';
import { SeqList } from './seq-list.js';
import { RELAY_SEQ_BLOCK, decideRoom, evolveRoom, initialRoomState, resumeNumbering, retainedSize, roomDecider, roomStateCodec, type RoomState } from './room.js';

const push = (key: string, value: unknown, action: PushAction): RoomCommand => ({ kind: 'push', key, value, action });
const append = (key: string, value: unknown) => push(key, value, { type: 'append' });

function run(commands: RoomCommand[], state = created()): { state: RoomState; events: RoomEvent[] } {
  const events: RoomEvent[] = [];
  for (const command of commands) {
    for (const event of decideRoom(command, state)) {
      events.push(event);
      state = evolveRoom(state, event);
    }
  }
  return { state, events };
}

function created(): RoomState {
  return run([{ kind: 'create', roomId: 'r' }], initialRoomState()).state;
}

/** What the log would give back after a restart: only the durable events, then the rehydration rule. */
function reload(events: RoomEvent[]): RoomState {
  const durable = events.filter((e) => !roomDecider.isTransient!(e));
  return resumeNumbering([{ type: 'RoomCreated', data: { roomId: 'r' } } as RoomEvent, ...durable].reduce(evolveRoom, initialRoomState()));
}

const seqs = (s: RoomState, key: string) => s.keys.get(key)?.seqs.toArray() ?? [];

describe('room rules', () => {
  it('creates a room once', () => {
    expect(decideRoom({ kind: 'create', roomId: 'r' }, initialRoomState())).toEqual([{ type: 'RoomCreated', data: { roomId: 'r' } }]);
    expect(() => decideRoom({ kind: 'create', roomId: 'r' }, created())).toThrow(DomainError);
    expect(() => decideRoom(append('k', 1), initialRoomState())).toThrow(/room not found/);
  });

  it('numbers the first message 1 and every append, replace and relay with the next number', () => {
    const { events, state } = run([append('a', 1), push('b', 2, { type: 'relay' }), push('a', 3, { type: 'replace' }), append('c', 4)]);
    const messages = events.filter((e) => e.type !== 'SeqBlockReserved');
    expect(messages.map((e) => [e.type, (e.data as { seq: number }).seq])).toEqual([
      ['MessageAppended', 1],
      ['MessageRelayed', 2],
      ['StreamReplaced', 3],
      ['MessageAppended', 4],
    ]);
    expect(state.lastSeq).toBe(4);
  });

  it('append keeps, replace clears, relay keeps nothing', () => {
    const { state } = run([append('k', 'a'), append('k', 'b'), push('k', 'r', { type: 'relay' }), append('k', 'c')]);
    expect(seqs(state, 'k')).toEqual([1, 2, 4]);
    const replaced = run([push('k', 'z', { type: 'replace' })], state).state;
    expect(seqs(replaced, 'k')).toEqual([5]);
  });

  it('compact removes entries up to its seq, puts itself first, takes no number', () => {
    const { state } = run([append('k', 'a'), append('k', 'b'), append('k', 'c'), push('k', 'ab', { type: 'compact', seq: 2 })]);
    expect(seqs(state, 'k')).toEqual([2, 3]);
    expect(state.lastSeq).toBe(3);
    expect(run([append('k', 'd')], state).events[0].data).toMatchObject({ seq: 4 });
  });

  it('ignores a compact at or below an earlier compaction and refuses one ahead of the room', () => {
    const { state } = run([append('k', 'a'), append('k', 'b'), push('k', 'x', { type: 'compact', seq: 2 })]);
    expect(decideRoom(push('k', 'y', { type: 'compact', seq: 1 }), state)).toEqual([]);
    expect(() => decideRoom(push('k', 'y', { type: 'compact', seq: 9 }), state)).toThrow(/ahead/);
    expect(() => decideRoom(push('k', 'y', { type: 'compact', seq: 0 }), state)).toThrow(/positive/);
  });

  it('reports the retained size after each push', () => {
    const { events } = run([
      append('k', 1),
      append('k', 2),
      push('k', 3, { type: 'relay' }),
      push('k', 4, { type: 'compact', seq: 2 }),
      append('k', 5),
      push('k', 6, { type: 'replace' }),
    ]);
    const sizes = events.filter((e) => e.type !== 'SeqBlockReserved').map(retainedSize);
    expect(sizes).toEqual([1, 2, 2, 1, 2, 1]);
  });

  it('a relay costs no write of its own: one reservation covers a block of relays', () => {
    const relays = Array.from({ length: RELAY_SEQ_BLOCK + 1 }, (_, i) => push('cursor', i, { type: 'relay' }));
    const { events } = run(relays);
    expect(events.filter((e) => e.type === 'SeqBlockReserved')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'MessageRelayed')).toHaveLength(RELAY_SEQ_BLOCK + 1);
  });

  it('an append inside a reserved block needs no new reservation', () => {
    const { events } = run([push('c', 1, { type: 'relay' }), append('k', 2), push('c', 3, { type: 'relay' })]);
    expect(events.filter((e) => e.type === 'SeqBlockReserved')).toHaveLength(1);
  });

  it('never issues a number twice after a reload, even for relays that were not stored', () => {
    const first = run([append('k', 1), push('c', 2, { type: 'relay' }), push('c', 3, { type: 'relay' })]);
    const issued = first.events.filter((e) => 'seq' in (e.data as object)).map((e) => (e.data as { seq: number }).seq);
    const after = run([append('k', 4)], reload(first.events)).events[0].data as { seq: number };
    expect(after.seq).toBeGreaterThan(Math.max(...issued));
    // Without relays, numbering simply continues.
    const plain = run([append('k', 1), append('k', 2)]);
    expect((run([append('k', 3)], reload(plain.events)).events[0].data as { seq: number }).seq).toBe(3);
  });
});

describe('seq lists', () => {
  it('appends without disturbing older versions', () => {
    const base = SeqList.of(1, 2);
    const a = base.append(3);
    const b = base.append(4); // an older version appending again gets its own copy
    expect(base.toArray()).toEqual([1, 2]);
    expect(a.toArray()).toEqual([1, 2, 3]);
    expect(b.toArray()).toEqual([1, 2, 4]);
  });

  it('counts above a seq and compacts', () => {
    const list = SeqList.of(2, 5, 7, 9);
    expect([0, 2, 6, 9].map((s) => list.countAbove(s))).toEqual([4, 3, 2, 0]);
    expect(list.compactTo(6).toArray()).toEqual([6, 7, 9]);
    expect(SeqList.EMPTY.append(1).size).toBe(1);
    expect(SeqList.EMPTY.size).toBe(0);
  });

  it('a snapshot of the state, through JSON, decides exactly as the state itself', () => {
    const { state } = run([
      append('a', 1),
      append('a', 2),
      push('b', 3, { type: 'relay' }),
      push('a', 4, { type: 'replace' }),
      append('a', 5),
      append('c', 6),
      push('c', 7, { type: 'compact', seq: 6 }),
    ]);
    const restored = roomStateCodec.decode(JSON.parse(JSON.stringify(roomStateCodec.encode(state))));
    expect(restored.exists).toBe(true);
    expect([...restored.keys.keys()]).toEqual([...state.keys.keys()]);
    for (const key of state.keys.keys()) {
      expect(seqs(restored, key)).toEqual(seqs(state, key));
      expect(restored.keys.get(key)!.compactedThrough).toBe(state.keys.get(key)!.compactedThrough);
    }
    const next = [append('a', 8), push('b', 9, { type: 'relay' }), push('c', 10, { type: 'compact', seq: 6 }), append('d', 11)];
    expect(run(next, restored).events).toEqual(run(next, state).events);
  });
});
