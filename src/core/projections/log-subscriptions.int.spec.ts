import { backends, useEventStore } from '../../../test/support/databases.js';
import type { RecordedEvent } from '../event-store/event.js';
import { EventStore } from '../event-store/event-store.js';
import { EventFeed } from './event-feed.js';
import { LOG_START } from './log-position.js';
import { LogSubscriptions } from './log-subscriptions.js';

describe.each(backends())('log subscriptions on $name', (backend) => {
  const opened = useEventStore(backend);

  it('deliver the selected events of many streams after a checkpoint, old then new, once each, while two processes write', async () => {
    const feed = new EventFeed();
    const subscriptions = new LogSubscriptions(opened.store, opened.db, feed, { pageSize: 7, pollMs: 30, retryMs: 20 });
    const other = new EventStore(opened.db); // another process's writer on PostgreSQL
    const write = async (store: EventStore, from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const { events } = await store.append(`log-${i % 5}-${store === other ? 'b' : 'a'}`, 'any', [{ type: i % 3 ? 'Kept' : 'Other', data: { i } }]);
        if (store !== other) feed.publish(events);
      }
    };
    await write(opened.store, 0, 20);
    const seen: RecordedEvent[] = [];
    const subscription = subscriptions.subscribe({ streamPrefixes: ['log-'], eventTypes: ['Kept'] }, LOG_START, (e) => void seen.push(e));
    await Promise.all([write(opened.store, 20, 30), write(other, 100, 30)]);
    const expected = await opened.db.query(`SELECT global_position FROM events WHERE stream_id LIKE 'log-%' AND type = 'Kept' ORDER BY global_position`);
    const deadline = Date.now() + 10_000;
    while (seen.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map((e) => e.globalPosition).sort((a, b) => a - b)).toEqual(expected.map((r) => Number(r.global_position)));
    // Within each stream, position order.
    const byStream = new Map<string, number[]>();
    for (const e of seen) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e.streamPosition]);
    for (const positions of byStream.values()) expect(positions).toEqual([...positions].sort((a, b) => a - b));
    subscription.close();
    await subscriptions.stop();
  });
});
