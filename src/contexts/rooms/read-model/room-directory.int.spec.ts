import { backends, useEventStore } from '../../../../test/support/databases.js';
import type { RecordedEvent } from '../../../core/event-store/event.js';
import { EventFeed } from '../../../core/projections/event-feed.js';
import { checkpointOf } from '../../../core/projections/log-position.js';
import { ProjectionRuntime } from '../../../core/projections/projection-runtime.js';
import { RoomActors } from '../application/room-actors.js';
import { roomStreamId } from '../domain/room.events.js';
import { roomDecider } from '../domain/room.js';
import { CreateRoomDirectory1764600000100 } from './migrations/1764600000100-create-room-directory.js';
import { RoomDirectory, roomDirectoryProjector } from './room-directory.js';

describe.each(backends())('room directory on $name', (backend) => {
  const opened = useEventStore(backend);

  it('lists every room with its stored messages; a rebuild from the log gives the same rows', async () => {
    await new CreateRoomDirectory1764600000100().up({ query: (sql: string) => opened.db.query(sql) } as never);
    const feed = new EventFeed();
    const runtime = new ProjectionRuntime(opened.db, opened.store, feed, { batchSize: 4, pollMs: 50, lockRetryMs: 100, maxBackoffMs: 200 });
    runtime.register(roomDirectoryProjector);
    await runtime.start();
    const actors = new RoomActors(roomDecider, opened.store, feed);
    let last: RecordedEvent | undefined;
    for (const [room, pushes] of [['d-a', 3], ['d-b', 0], ['d-c', 5]] as const) {
      last = (await actors.tell(roomStreamId(room), { kind: 'create', roomId: room }))[0] as RecordedEvent;
      for (let i = 0; i < pushes; i++) {
        const events = await actors.tell(roomStreamId(room), { kind: 'push', key: 'k', value: i, action: { type: i === 4 ? 'replace' : 'append' } });
        last = events.at(-1) as RecordedEvent;
      }
      await actors.tell(roomStreamId(room), { kind: 'push', key: 'k', value: 'relayed', action: { type: 'relay' } });
    }
    // Relays may reserve seq blocks (stored events of their own): wait for the head of the log. The head is
    // read below the oldest transaction still open, and the projector's own may be one for a moment.
    let head = await opened.store.logHead();
    for (const deadline = Date.now() + 10_000; head.globalPosition < checkpointOf(last!).globalPosition && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
      head = await opened.store.logHead();
    }
    expect(head.globalPosition).toBeGreaterThanOrEqual(checkpointOf(last!).globalPosition);
    await runtime.waitFor(roomDirectoryProjector.name, head);
    const directory = new RoomDirectory(opened.db);
    const live = await directory.list(10);
    expect(live.map((r) => [r.roomId, r.messages])).toEqual([['d-a', 3], ['d-b', 0], ['d-c', 5]]);
    expect(await directory.has('d-b')).toBe(true);
    expect(await directory.has('d-z')).toBe(false);

    await runtime.rebuild(roomDirectoryProjector.name);
    await runtime.waitFor(roomDirectoryProjector.name, head);
    expect(await directory.list(10)).toEqual(live);
    actors.stop();
    await runtime.stop();
  });
});
