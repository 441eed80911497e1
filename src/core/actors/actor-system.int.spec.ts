import { backends, ReadRecordingStore, useEventStore } from '../../../test/support/databases.js';
import { ConcurrencyError, type AppendOptions, type Event, type ExpectedVersion } from '../event-store/event.js';
import { EventStore } from '../event-store/event-store.js';
import { SnapshotStore } from '../event-store/snapshot-store.js';
import { EventFeed, isTransient, type FeedEvent } from '../projections/event-feed.js';
import { ActorSystem, DEFAULT_ACTOR_OPTIONS } from './actor-system.js';
import { DomainError, MailboxFullError, type Decider } from './decider.js';

type Added = Event<'Added', { n: number; total: number }>;
type Pinged = Event<'Pinged', { total: number }>;
type Cmd = { add: number } | { ping: true };
const counter: Decider<{ total: number }, Cmd, Added | Pinged> = {
  initialState: () => ({ total: 0 }),
  decide: (cmd, s) => {
    if ('ping' in cmd) return [{ type: 'Pinged', data: { total: s.total } }];
    if (cmd.add < 0) throw new DomainError('no negatives');
    return [{ type: 'Added', data: { n: cmd.add, total: s.total + cmd.add } }];
  },
  evolve: (s, e) => (e.type === 'Added' ? { total: e.data.total } : s),
  isTransient: (e) => e.type === 'Pinged',
};

describe.each(backends())('actors on $name', (backend) => {
  const opened = useEventStore(backend);
  const feed = new EventFeed();
  const published: FeedEvent[] = [];
  feed.subscribe((events) => published.push(...events));

  it('runs commands to one aggregate strictly in order, and publishes only after commit', async () => {
    /** The real store, noting the highest position of each stream whose append has returned (committed). */
    class CommitNotingStore extends EventStore {
      readonly committed = new Map<string, number>();
      override appendChained<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions = {}) {
        const { link, result } = super.appendChained(streamId, expected, events, options);
        return {
          link,
          result: result.then((r) => {
            this.committed.set(streamId, r.nextExpectedVersion);
            return r;
          }),
        };
      }
    }
    const store = new CommitNotingStore(opened.db);
    const publishedEarly: number[] = [];
    const unsubscribe = feed.subscribe((events) => {
      for (const e of events) if (e.streamId === 'order' && !isTransient(e) && e.streamPosition > (store.committed.get('order') ?? 0)) publishedEarly.push(e.streamPosition);
    });
    const actors = new ActorSystem(counter, store, feed);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => actors.tell('order', { add: i + 1 })));
    unsubscribe();
    expect(publishedEarly).toEqual([]);
    expect(results.map((r) => (r[0].data as { total: number }).total)).toEqual(Array.from({ length: 200 }, (_, i) => ((i + 1) * (i + 2)) / 2));
    const stored = await opened.store.readStream('order');
    expect(stored.map((e) => (e.data as { n: number }).n)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(published.filter((e) => e.streamId === 'order')).toHaveLength(200);
    actors.stop();
  });

  it('refuses a bad command alone; transient events are published, not stored', async () => {
    const actors = new ActorSystem(counter, opened.store, feed);
    const [a, bad, ping] = await Promise.allSettled([actors.tell('mixed', { add: 2 }), actors.tell('mixed', { add: -1 }), actors.tell('mixed', { ping: true })]);
    expect(a.status).toBe('fulfilled');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(DomainError);
    expect((ping as PromiseFulfilledResult<FeedEvent[]>).value[0]).toMatchObject({ type: 'Pinged', transient: true, afterPosition: 1, data: { total: 2 } });
    expect(await opened.store.readStream('mixed')).toHaveLength(1);
    expect(published.filter((e) => e.streamId === 'mixed').map((e) => e.type)).toEqual(['Added', 'Pinged']);
    actors.stop();
  });

  it('evicts idle actors and reloads them from the log', async () => {
    const actors = new ActorSystem(counter, opened.store, feed, { ...DEFAULT_ACTOR_OPTIONS, idleMs: 50 });
    await actors.tell('evict', { add: 5 });
    expect(actors.size).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(actors.size).toBe(0);
    const [event] = await actors.tell('evict', { add: 1 });
    expect(event.data).toEqual({ n: 1, total: 6 });
    actors.stop();
  });

  it('bounds the mailbox', async () => {
    const actors = new ActorSystem(counter, opened.store, feed, { ...DEFAULT_ACTOR_OPTIONS, maxMailbox: 5, maxBatch: 1 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => actors.tell('full', { add: 1 })));
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof MailboxFullError).length).toBeGreaterThan(0);
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    expect(await opened.store.readStream('full')).toHaveLength(accepted);
    actors.stop();
  });

  it('a second writer to the same stream (another process) is caught up with, not overwritten', async () => {
    const one = new ActorSystem(counter, opened.store, feed);
    const two = new ActorSystem(counter, new EventStore(opened.db), feed);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).tell('shared', { add: 1 })));
    const stored = await opened.store.readStream('shared');
    expect(stored.map((e) => (e.data as { total: number }).total)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await expect(opened.store.append('shared', 3, [{ type: 'Added', data: { n: 0, total: 0 } }])).rejects.toBeInstanceOf(ConcurrencyError);
    one.stop();
    two.stop();
  });
});

describe.each(backends())('actor guarantees on $name', (backend) => {
  const opened = useEventStore(backend);
  const feed = new EventFeed();

  it('a letter whose evolve throws is refused alone and leaves nothing in the state', async () => {
    type Boom = Event<'Boom', null>;
    const added = (n: number, s: { total: number }): Added => ({ type: 'Added', data: { n, total: s.total + n } });
    const fragile: Decider<{ total: number }, { add: number } | { pair: number }, Added | Boom> = {
      initialState: () => ({ total: 0 }),
      decide: (cmd, s) => ('pair' in cmd ? [added(cmd.pair, s), { type: 'Boom', data: null }] : [added(cmd.add, s)]),
      evolve: (s, e) => {
        if (e.type === 'Boom') throw new Error('cannot fold Boom');
        return { total: e.data.total };
      },
    };
    const actors = new ActorSystem(fragile, opened.store, feed);
    const [a, bad, b] = await Promise.allSettled([actors.tell('fragile', { add: 1 }), actors.tell('fragile', { pair: 5 }), actors.tell('fragile', { add: 1 })]);
    expect([a.status, bad.status, b.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((b as PromiseFulfilledResult<FeedEvent[]>).value[0].data).toEqual({ n: 1, total: 2 });
    expect((await opened.store.readStream('fragile')).map((e) => (e.data as { total: number }).total)).toEqual([1, 2]);
    const [next] = await actors.tell('fragile', { add: 1 });
    expect(next.data).toEqual({ n: 1, total: 3 });
    actors.stop();
  });

  it('catches up on a stream longer than a page of reads', async () => {
    await opened.store.append('long-actor', 'no_stream', Array.from({ length: 2500 }, (_, i) => ({ type: 'Added', data: { n: 1, total: i + 1 } })));
    const store = new ReadRecordingStore(opened.db);
    const actors = new ActorSystem(counter, store, feed);
    const [event] = await actors.tell('long-actor', { add: 1 });
    expect(event.data).toEqual({ n: 1, total: 2501 });
    expect(store.readsAfter).toEqual([0, 1000, 2000]);
    actors.stop();
    await store.drain();
  });

  it('keeps at most maxActors idle actors, evicting the least recently used', async () => {
    const actors = new ActorSystem(counter, opened.store, feed, { ...DEFAULT_ACTOR_OPTIONS, maxActors: 3 });
    for (const id of ['lru-a', 'lru-b', 'lru-c']) await actors.tell(id, { add: 1 });
    await actors.tell('lru-a', { add: 1 });
    await actors.tell('lru-d', { add: 1 });
    expect(actors.size).toBe(3);
    expect(['lru-a', 'lru-b', 'lru-c', 'lru-d'].filter((id) => actors.has(id))).toEqual(['lru-a', 'lru-c', 'lru-d']);
    for (let i = 0; i < 50; i++) {
      await actors.tell(`lru-many-${i}`, { add: 1 });
      expect(actors.size).toBeLessThanOrEqual(3);
    }
    actors.stop();
  });

  it('never evicts a busy actor: the bound holds for idle ones', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    /** The real store, holding back appends to one stream until the test lets them go. */
    class GatedStore extends EventStore {
      override appendChained<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions = {}) {
        if (streamId !== 'busy') return super.appendChained(streamId, expected, events, options);
        return { link: {}, result: gate.then(() => super.append(streamId, expected, events)) };
      }
    }
    const actors = new ActorSystem(counter, new GatedStore(opened.db), feed, { ...DEFAULT_ACTOR_OPTIONS, maxActors: 2 });
    const busy = actors.tell('busy', { add: 1 });
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) await actors.tell(`idle-${i}`, { add: 1 });
    expect(actors.has('busy')).toBe(true);
    expect(actors.size).toBeLessThanOrEqual(3);
    open();
    await busy;
    actors.stop();
  });
});

describe.each(backends())('actor snapshots on $name', (backend) => {
  const opened = useEventStore(backend);

  const snapshotted: Decider<{ total: number }, Cmd, Added | Pinged> = {
    ...counter,
    snapshot: { kind: 'counter', version: 1, encode: (s) => s, decode: (json) => json as { total: number } },
  };

  it('a reloaded actor starts from its newest snapshot and reads only the events after it', async () => {
    const snapshots = new SnapshotStore(opened.db);
    const feed = new EventFeed();
    const first = new ActorSystem(snapshotted, opened.store, feed, { ...DEFAULT_ACTOR_OPTIONS, snapshots: { store: snapshots, every: 50 } });
    for (let i = 1; i <= 120; i++) await first.tell('snap', { add: i });
    first.stop();
    await snapshots.flush();
    expect(await snapshots.load(snapshotted.snapshot!, 'snap')).toEqual({ position: 100, state: { total: (100 * 101) / 2 } });

    const store = new ReadRecordingStore(opened.db);
    const second = new ActorSystem(snapshotted, store, feed, { ...DEFAULT_ACTOR_OPTIONS, snapshots: { store: snapshots, every: 50 } });
    const [event] = await second.tell('snap', { add: 121 });
    expect((event.data as { total: number }).total).toBe((121 * 122) / 2);
    expect(store.readsAfter).toEqual([100]);
    second.stop();
    await store.drain();
  });

  it('a snapshot of another codec version is ignored: the state is rebuilt from the log', async () => {
    const snapshots = new SnapshotStore(opened.db);
    const feed = new EventFeed();
    const policy = { store: snapshots, every: 5 };
    const first = new ActorSystem(snapshotted, opened.store, feed, { ...DEFAULT_ACTOR_OPTIONS, snapshots: policy });
    for (let i = 1; i <= 12; i++) await first.tell('versioned', { add: i });
    first.stop();
    await snapshots.flush();
    // The new code's state holds the total doubled: an old snapshot decoded as-is would be wrong.
    const doubled: Decider<{ total: number }, Cmd, Added | Pinged> = {
      ...counter,
      decide: (cmd, s) => ('ping' in cmd ? [] : [{ type: 'Added', data: { n: cmd.add, total: s.total / 2 + cmd.add } }]),
      evolve: (s, e) => (e.type === 'Added' ? { total: e.data.total * 2 } : s),
      snapshot: { kind: 'counter', version: 2, encode: (s) => s, decode: (json) => json as { total: number } },
    };
    const store = new ReadRecordingStore(opened.db);
    const second = new ActorSystem(doubled, store, feed, { ...DEFAULT_ACTOR_OPTIONS, snapshots: policy });
    const [event] = await second.tell('versioned', { add: 13 });
    expect(event.data).toEqual({ n: 13, total: (13 * 14) / 2 });
    expect(store.readsAfter).toEqual([0]);
    second.stop();
    await snapshots.flush();
    expect(await snapshots.load(doubled.snapshot!, 'versioned')).toMatchObject({ position: 13 });
    expect(await snapshots.load(snapshotted.snapshot!, 'versioned')).toBeUndefined();
    await store.drain();
  });

  it('an older snapshot never overwrites a newer one', async () => {
    const snapshots = new SnapshotStore(opened.db);
    await snapshots.save('counter', 'order-of-saves', 200, { total: 2 });
    await snapshots.save('counter', 'order-of-saves', 100, { total: 1 });
    expect(await snapshots.load('counter', 'order-of-saves')).toEqual({ position: 200, state: { total: 2 } });
  });
});

