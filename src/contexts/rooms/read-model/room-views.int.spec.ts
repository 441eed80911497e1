import { backends, ReadRecordingStore, useEventStore } from '../../../../test/support/databases.js';
import { EventStore, type ReadStreamOptions } from '../../../core/event-store/event-store.js';
import { EventFeed } from '../../../core/projections/event-feed.js';
import { StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { ChannelHub } from '../../../core/realtime/channel-hub.js';
import { RoomActors } from '../application/room-actors.js';
import type { PushAction } from '../domain/room.commands.js';
import { roomStreamId, type RoomEvent, type RoomMessageEvent } from '../domain/room.events.js';
import { roomDecider } from '../domain/room.js';
import { SnapshotStore } from '../../../core/event-store/snapshot-store.js';
import { RoomViews, roomViewCodec, type RoomChange } from './room-views.js';

const OPTIONS = { idleMs: 60_000, maxViews: 1000 };

describe.each(backends())('room views on $name', (backend) => {
  const opened = useEventStore(backend);

  it('a view kept live from the feed equals one rebuilt from the log (the log is the truth)', async () => {
    const feed = new EventFeed();
    const changes = new ChannelHub<RoomChange>();
    const snapshots = { store: new SnapshotStore(opened.db), every: 40 };
    const live = new RoomViews(new StreamSubscriptions(opened.store, feed), changes, { ...OPTIONS, snapshots });
    feed.subscribe(live.relayUnviewed);
    const actors = new RoomActors(roomDecider, opened.store, feed);
    const heard: RoomChange[] = [];
    changes.subscribe('r1', (c) => heard.push(c));

    await actors.tell(roomStreamId('r1'), { kind: 'create', roomId: 'r1' });
    expect(await live.exists('r1')).toBe(true);
    const actions: PushAction[] = [{ type: 'append' }, { type: 'append' }, { type: 'relay' }, { type: 'replace' }, { type: 'append' }];
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const told: RoomEvent[] = [];
    for (let i = 0; i < 300; i++) {
      const key = `k${Math.floor(random() * 4)}`;
      const lastSeq = Math.max(0, ...told.map((e) => (e as RoomMessageEvent).data?.seq ?? 0));
      const action = i % 37 === 36 ? ({ type: 'compact', seq: Math.max(1, lastSeq - 5) } as PushAction) : actions[Math.floor(random() * actions.length)];
      told.push(...((await actors.tell(roomStreamId('r1'), { kind: 'push', key, value: { i, key }, action })) as unknown as RoomEvent[]));
    }
    expect([...(await live.allKeys('r1')).values()].flat().length).toBeGreaterThan(0);
    const rebuilt = new RoomViews(new StreamSubscriptions(opened.store, new EventFeed()), new ChannelHub<RoomChange>(), OPTIONS);
    expect(await rebuilt.allKeys('r1')).toEqual(await live.allKeys('r1'));
    // So does one that starts from the newest snapshot the live view took, then reads the rest of the log.
    await snapshots.store.flush();
    const snapshot = await snapshots.store.load(roomViewCodec, 'r1');
    expect(snapshot?.position).toBeGreaterThan(0);
    const recording = new ReadRecordingStore(opened.db);
    const fromSnapshot = new RoomViews(new StreamSubscriptions(recording, new EventFeed()), new ChannelHub<RoomChange>(), { ...OPTIONS, snapshots });
    expect(await fromSnapshot.allKeys('r1')).toEqual(await live.allKeys('r1'));
    expect(recording.readsAfter).toEqual([snapshot!.position]);
    fromSnapshot.stop();
    // Subscribers heard every stored and relayed message, once each, in seq order.
    const messages = ['MessageAppended', 'MessageRelayed', 'StreamReplaced'];
    const seqs = heard.filter((c) => messages.includes(c.event.type)).map((c) => c.event.data.seq);
    expect(seqs).toEqual(told.filter((e) => messages.includes(e.type)).map((e) => (e as RoomMessageEvent).data.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    actors.stop();
    live.stop();
    rebuilt.stop();
  });

  it('on a shared log, a fresh read reads the room\'s log head first: another server\'s acknowledged push is in it at once', async () => {
    const here = new EventFeed();
    const views = new RoomViews(new StreamSubscriptions(opened.store, here), new ChannelHub<RoomChange>(), { ...OPTIONS, sharedLog: true });
    // The other server: its own actors and feed; nothing carries its commits here (no log tail in this test).
    const elsewhere = new RoomActors(roomDecider, opened.store, new EventFeed());
    await elsewhere.tell(roomStreamId('r3'), { kind: 'create', roomId: 'r3' });
    expect(await views.entries('r3', 'k')).toEqual([]);
    await elsewhere.tell(roomStreamId('r3'), { kind: 'push', key: 'k', value: 'there', action: { type: 'append' } });
    expect(await views.entries('r3', 'k')).toEqual([]); // a socket's get: as the view stands, in order with its broadcasts
    expect((await views.entries('r3', 'k', 0, true)).map((e) => e.value)).toEqual(['there']);
    elsewhere.stop();
    views.stop();
  });

  it('a view whose first read fails keeps its listeners: they hear what is pushed meanwhile, once the log can be read', async () => {
    /** The real store, whose stream reads fail while `failing` is set (as when the database is away). */
    class FlakyStore extends EventStore {
      failing = true;
      override readStream(streamId: string, options?: ReadStreamOptions) {
        return this.failing ? Promise.reject(new Error('database away')) : super.readStream(streamId, options);
      }
    }
    const store = new FlakyStore(opened.db);
    const feed = new EventFeed();
    const changes = new ChannelHub<RoomChange>();
    const views = new RoomViews(new StreamSubscriptions(store, feed, { pageSize: 100, maxHeld: 100, retryMs: 20, maxRetryMs: 50 }), changes, OPTIONS);
    const actors = new RoomActors(roomDecider, opened.store, feed);
    await actors.tell(roomStreamId('r2'), { kind: 'create', roomId: 'r2' });
    const heard: number[] = [];
    changes.subscribe('r2', (c) => heard.push(c.event.data.seq));

    await expect(views.exists('r2')).rejects.toThrow('database away');
    for (let i = 0; i < 3; i++) await actors.tell(roomStreamId('r2'), { kind: 'push', key: 'k', value: i, action: { type: 'append' } });
    store.failing = false;
    expect((await views.entries('r2', 'k')).map((e) => e.value)).toEqual([0, 1, 2]);
    expect(heard).toHaveLength(3);
    actors.stop();
    views.stop();
  });
});
