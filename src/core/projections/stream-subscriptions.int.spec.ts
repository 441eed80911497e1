import { backends, useEventStore } from '../../../test/support/databases.js';
import { EventStore } from '../event-store/event-store.js';
import { LogTail } from '../event-store/log-tail.js';
import { EventFeed, isTransient, type FeedEvent } from './event-feed.js';
import { StreamSubscriptions } from './stream-subscriptions.js';

const counted = (n: number) => ({ type: 'Counted', data: { n } });
const OPTIONS = { pageSize: 5, maxHeld: 8, retryMs: 20, maxRetryMs: 100 };

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each(backends())('stream subscriptions on $name', (backend) => {
  const opened = useEventStore(backend);

  it('catches up from a position, then goes live, with no gap or duplicate while two processes write', async () => {
    const feed = new EventFeed();
    const local = opened.store;
    // On PostgreSQL the second writer is another process: this one hears it only through the log tail.
    const remote = backend.name === 'postgres' ? new EventStore(opened.db) : local;
    const tail = new LogTail(local, (events) => feed.publish(events), { pollMs: 30, pageSize: 7 });
    await tail.start();
    const subscriptions = new StreamSubscriptions(local, feed, OPTIONS);

    const stream = 'sub-live';
    for (let i = 1; i <= 12; i++) await feed.publish((await local.append(stream, 'any', [counted(i)])).events);
    const seen: [number, boolean][] = [];
    const subscription = subscriptions.subscribe(stream, 4, (event, initial) => {
      if (!isTransient(event)) seen.push([event.streamPosition, initial]);
    });

    const TOTAL = 80;
    const write = async (store: EventStore, publishes: boolean, count: number) => {
      for (let i = 0; i < count; i++) {
        // Two writers race for positions: the loser of a race tries again.
        for (let attempt = 0; ; attempt++) {
          try {
            const { events } = await store.append(stream, 'any', [counted(i)]);
            if (publishes) feed.publish(events);
            break;
          } catch (error) {
            if (attempt > 20) throw error;
          }
        }
      }
    };
    try {
      await Promise.all([write(local, true, TOTAL / 2), write(remote, remote === local, TOTAL / 2)]);
      await until(() => seen.length >= 12 + TOTAL - 4);
      await new Promise((r) => setTimeout(r, 100)); // nothing more (no duplicate) arrives late
      expect(seen.map(([p]) => p)).toEqual(Array.from({ length: 12 + TOTAL - 4 }, (_, i) => i + 5));
      expect(seen.slice(0, 8).every(([, initial]) => initial)).toBe(true);
      expect(subscription.position).toBe(12 + TOTAL);
    } finally {
      subscriptions.stop();
      await tail.stop();
    }
  });

  it('a handler that throws misses nothing: the event is read again from the log', async () => {
    const feed = new EventFeed();
    const subscriptions = new StreamSubscriptions(opened.store, feed, OPTIONS);
    const seen: number[] = [];
    let throwOnce = true;
    const subscription = subscriptions.subscribe('sub-throw', 0, (event) => {
      if (isTransient(event)) return;
      if (event.streamPosition === 3 && throwOnce) {
        throwOnce = false;
        throw new Error('listener bug');
      }
      seen.push(event.streamPosition);
    });
    await subscription.whenCaughtUp();
    for (let i = 1; i <= 6; i++) feed.publish((await opened.store.append('sub-throw', 'any', [counted(i)])).events);
    await until(() => seen.length >= 6);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    subscriptions.stop();
  });

  it('holds a bounded number of live events while reading, and reads the rest from the log', async () => {
    const feed = new EventFeed();
    const subscriptions = new StreamSubscriptions(opened.store, feed, OPTIONS);
    const published: FeedEvent[] = [];
    for (let i = 1; i <= 40; i++) published.push(...(await opened.store.append('sub-held', 'any', [counted(i)])).events);
    const seen: number[] = [];
    const subscription = subscriptions.subscribe('sub-held', 0, (event) => !isTransient(event) && seen.push(event.streamPosition));
    feed.publish(published); // all 40 arrive while the first read is in flight: far over maxHeld
    await subscription.whenCaughtUp();
    await until(() => seen.length >= 40);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    subscriptions.stop();
  });

  it('slots relays after the position they follow', async () => {
    const feed = new EventFeed();
    const subscriptions = new StreamSubscriptions(opened.store, feed, OPTIONS);
    const seen: string[] = [];
    const subscription = subscriptions.subscribe('sub-relay', 0, (event) =>
      seen.push(isTransient(event) ? `relay@${event.afterPosition}` : String(event.streamPosition)),
    );
    await subscription.whenCaughtUp();
    const first = (await opened.store.append('sub-relay', 'any', [counted(1)])).events;
    const second = (await opened.store.append('sub-relay', 'any', [counted(2)])).events;
    const relay = { type: 'Relayed', data: {}, streamId: 'sub-relay', transient: true as const, afterPosition: 2 };
    feed.publish([relay]); // before the stored event it follows has been heard
    feed.publish(first);
    feed.publish(second);
    await until(() => seen.length >= 3);
    expect(seen).toEqual(['1', '2', 'relay@2']);
    subscriptions.stop();
  });
});
