import { backends, ReadRecordingStore, useEventStore } from '../../../test/support/databases.js';
import { ConcurrencyError, type Event, type ExpectedVersion } from '../event-store/event.js';
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
      override async append<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[]) {
        const result = await super.append(streamId, expected, events);
        this.committed.set(streamId, result.nextExpectedVersion);
        return result;
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

describe.each(backends())('actor snapshots on $name', (backend) => {
  const opened = useEventStore(backend);

  const snapshotted: Decider<{ total: number }, Cmd, Added | Pinged> = {
    ...counter,
    snapshot: { kind: 'counter', encode: (s) => s, decode: (json) => json as { total: number } },
  };

  it('a reloaded actor starts from its newest snapshot and reads only the events after it', async () => {
    const snapshots = new SnapshotStore(opened.db);
    const feed = new EventFeed();
    const first = new ActorSystem(snapshotted, opened.store, feed, { ...DEFAULT_ACTOR_OPTIONS, snapshots: { store: snapshots, every: 50 } });
    for (let i = 1; i <= 120; i++) await first.tell('snap', { add: i });
    first.stop();
    await snapshots.flush();
    expect(await snapshots.load('counter', 'snap')).toEqual({ position: 100, state: { total: (100 * 101) / 2 } });

    const store = new ReadRecordingStore(opened.db);
    const second = new ActorSystem(snapshotted, store, feed, { ...DEFAULT_ACTOR_OPTIONS, snapshots: { store: snapshots, every: 50 } });
    const [event] = await second.tell('snap', { add: 121 });
    expect((event.data as { total: number }).total).toBe((121 * 122) / 2);
    expect(store.readsAfter).toEqual([100]);
    second.stop();
    await store.drain();
  });

  it('an older snapshot never overwrites a newer one', async () => {
    const snapshots = new SnapshotStore(opened.db);
    await snapshots.save('counter', 'order-of-saves', 200, { total: 2 });
    await snapshots.save('counter', 'order-of-saves', 100, { total: 1 });
    expect(await snapshots.load('counter', 'order-of-saves')).toEqual({ position: 200, state: { total: 2 } });
  });
});

