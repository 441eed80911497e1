import { backends, useEventStore } from '../../../test/support/databases.js';
import { ConcurrencyError, type Event } from '../event-store/event.js';
import { EventStore } from '../event-store/event-store.js';
import { EventFeed, type FeedEvent } from '../projections/event-feed.js';
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
    const actors = new ActorSystem(counter, opened.store, feed);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => actors.tell('order', { add: i + 1 })));
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
