import { backends, openDatabase, useEventStore } from '../../../test/support/databases.js';
import { ConcurrencyError, EventStoreOverloadedError, PredecessorFailedError, type RecordedEvent } from './event.js';
import { EventStore } from './event-store.js';
import { LogTail } from './log-tail.js';

const ev = (n: number) => ({ type: 'Counted', data: { n } });

describe.each(backends())('EventStore on $name', (backend) => {
  const opened = useEventStore(backend);

  it('appends and reads a stream in order', async () => {
    const first = await opened.store.append('s-read', 'no_stream', [ev(1), ev(2)]);
    expect(first.nextExpectedVersion).toBe(2);
    await opened.store.append('s-read', 2, [ev(3)]);
    const events = await opened.store.readStream('s-read');
    expect(events.map((e) => [e.streamPosition, (e.data as { n: number }).n])).toEqual([[1, 1], [2, 2], [3, 3]]);
    expect(await opened.store.readStream('s-read', { after: 2 })).toHaveLength(1);
    expect(typeof events[0].globalPosition).toBe('number');
  });

  it('reads the log with only the selected events\' payloads, and pages it by payload bytes too', async () => {
    const from = await opened.store.logHead();
    await opened.store.appendMany([
      { streamId: 'sel_a-1', expected: 'any', events: [ev(1), { type: 'Other', data: { n: 2 } }] },
      { streamId: 'sel%b-1', expected: 'any', events: [ev(3)] },
      { streamId: 'sel_a-2', expected: 'any', events: [{ type: 'Counted', data: { n: 4, pad: 'x'.repeat(2000) } }, ev(5)] },
    ]);
    const all = await opened.store.readLog(from, { limit: 100 });
    expect(all.events.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
    expect(all.more).toBe(false);
    // `_` and `%` in a prefix are characters, not wildcards.
    const selected = await opened.store.readLog(from, { limit: 100, streamPrefixes: ['sel_a-'], eventTypes: ['Counted'] });
    expect(selected.events.map((e) => (e.data as { n: number }).n)).toEqual([1, 4, 5]);
    expect(selected.scanned).toBe(5);
    expect(selected.checkpoint).toEqual(all.checkpoint); // what was passed over still moves the reader on
    // The byte bound ends the page after the row that reaches it; the next page goes on from there.
    const first = await opened.store.readLog(from, { limit: 100, maxBytes: 100 });
    expect(first.events.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 4]);
    expect(first.more).toBe(true);
    const rest = await opened.store.readLog(first.checkpoint, { limit: 100, maxBytes: 100 });
    expect(rest.events.map((e) => (e.data as { n: number }).n)).toEqual([5]);
    // Without payloads: the same events, names and positions only.
    const bare = await opened.store.readLog(from, { limit: 100, streamPrefixes: ['sel_a-'], eventTypes: ['Counted'], payload: false });
    expect(bare.events.map((e) => [e.streamId, e.streamPosition, e.type, e.data, e.metadata])).toEqual(
      selected.events.map((e) => [e.streamId, e.streamPosition, e.type, null, null]),
    );
    expect(bare.checkpoint).toEqual(selected.checkpoint);
  });

  it('rejects a wrong expected version with the actual position', async () => {
    await opened.store.append('s-conflict', 'no_stream', [ev(1)]);
    await expect(opened.store.append('s-conflict', 'no_stream', [ev(2)])).rejects.toMatchObject({ name: 'ConcurrencyError', actual: 1 });
    await expect(opened.store.append('s-conflict', 5, [ev(2)])).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(opened.store.append('s-missing', 'stream_exists', [ev(1)])).rejects.toMatchObject({ actual: 0 });
    await expect(opened.store.append('s-conflict', 'stream_exists', [ev(2)])).resolves.toMatchObject({ nextExpectedVersion: 2 });
    await expect(opened.store.append('s-conflict', 'any', [ev(3)])).resolves.toMatchObject({ nextExpectedVersion: 3 });
  });

  it('a chained append goes after its predecessor, and never lands when the predecessor failed', async () => {
    // Both valid: the second, submitted before the first committed, lands after it.
    const first = opened.store.appendChained('s-chain', 'no_stream', [ev(1), ev(2)]);
    const second = opened.store.appendChained('s-chain', 2, [ev(3)], { after: first.link });
    expect((await second.result).events.map((e) => e.streamPosition)).toEqual([3]);
    expect((await first.result).nextExpectedVersion).toBe(2);

    // Another writer takes position 1: the first conflicts. The second expects exactly the position the
    // log now has, so only the chain keeps it (decided on the first's events) out of the log.
    await opened.store.append('s-chain-raced', 'no_stream', [ev(100)]);
    const failing = opened.store.appendChained('s-chain-raced', 'no_stream', [ev(1)]);
    const dependent = opened.store.appendChained('s-chain-raced', 1, [ev(2)], { after: failing.link });
    await expect(failing.result).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(dependent.result).rejects.toBeInstanceOf(PredecessorFailedError);
    const late = opened.store.appendChained('s-chain-raced', 1, [ev(3)], { after: dependent.link });
    await expect(late.result).rejects.toBeInstanceOf(PredecessorFailedError);
    expect((await opened.store.readStream('s-chain-raced')).map((e) => (e.data as { n: number }).n)).toEqual([100]);
  });

  it('gives each caller of one group commit its own result, and a conflict undoes no one else', async () => {
    await opened.store.append('g-taken', 'no_stream', [ev(0)]);
    const results = await Promise.allSettled([
      opened.store.append('g-a', 'no_stream', [ev(1)]),
      opened.store.append('g-taken', 'no_stream', [ev(1)]),
      opened.store.append('g-b', 'no_stream', [ev(1), ev(2)]),
      opened.store.append('g-a', 1, [ev(2)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    expect(await opened.store.streamPosition('g-a')).toBe(2);
    expect(await opened.store.streamPosition('g-b')).toBe(2);
    expect(await opened.store.streamPosition('g-taken')).toBe(1);
  });

  it('appends to several streams all or nothing', async () => {
    await opened.store.append('m-x', 'no_stream', [ev(0)]);
    await expect(
      opened.store.appendMany([
        { streamId: 'm-y', expected: 'no_stream', events: [ev(1)] },
        { streamId: 'm-x', expected: 'no_stream', events: [ev(1)] },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await opened.store.streamPosition('m-y')).toBe(0);
    const ok = await opened.store.appendMany([
      { streamId: 'm-y', expected: 'no_stream', events: [ev(1)] },
      { streamId: 'm-x', expected: 1, events: [ev(2)] },
    ]);
    expect(ok.map((r) => r.nextExpectedVersion)).toEqual([1, 2]);
  });

  it('a tailing reader sees every event of 50 concurrent writers exactly once, in stream order', async () => {
    const seen: RecordedEvent[] = [];
    const tail = new LogTail(opened.store, (events) => seen.push(...events), { pollMs: 20, pageSize: 37, includeOwn: true });
    // A server's own tail skips what its process wrote (that is published directly).
    const ownSeen: RecordedEvent[] = [];
    const ownTail = new LogTail(opened.store, (events) => ownSeen.push(...events), { pollMs: 20, pageSize: 37 });
    await tail.start();
    await ownTail.start();
    try {
      await Promise.all(
        Array.from({ length: 50 }, async (_, w) => {
          for (let i = 1; i <= 10; i++) await opened.store.append(`tail-${w}`, i - 1, [ev(i)]);
        }),
      );
      const deadline = Date.now() + 20_000;
      while (seen.filter((e) => e.streamId.startsWith('tail-')).length < 500 && Date.now() < deadline) {
        tail.wake();
        await new Promise((r) => setTimeout(r, 25));
      }
      // The own tail is alive: it delivers what another process wrote, after everything this one wrote.
      const other = new EventStore(opened.db, { nodeId: 'other' });
      await other.append('tail-other', 'no_stream', [ev(1)]);
      await other.drain();
      const ownDeadline = Date.now() + 20_000;
      while (!ownSeen.some((e) => e.streamId === 'tail-other') && Date.now() < ownDeadline) {
        ownTail.wake();
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await tail.stop();
      await ownTail.stop();
    }
    expect(ownSeen.map((e) => e.streamId)).toEqual(['tail-other']);
    const mine = seen.filter((e) => e.streamId.startsWith('tail-') && e.streamId !== 'tail-other');
    expect(mine).toHaveLength(500);
    expect(new Set(mine.map((e) => e.globalPosition)).size).toBe(500);
    for (let w = 0; w < 50; w++) {
      expect(mine.filter((e) => e.streamId === `tail-${w}`).map((e) => e.streamPosition)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
  });
});

describe.each(backends())('EventStore isolation on $name', (backend) => {
  const opened = useEventStore(backend);

  it('one caller with unstorable data fails alone; the rest of its group commit lands', async () => {
    const results = await Promise.allSettled([
      opened.store.append('iso-a', 'no_stream', [ev(1)]),
      opened.store.append('iso-bad', 'no_stream', [{ type: 'Bad', data: { s: 'nul \u0000 inside' } }]),
      opened.store.append('iso-b', 'no_stream', [ev(1)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await opened.store.streamPosition('iso-bad')).toBe(0);
    expect(await opened.store.readStream('iso-b')).toHaveLength(1);
  });

  it('a rolled-back transaction never undoes an append committed beside it', async () => {
    let appends: Promise<unknown>[] = [];
    const rollback = opened.db
      .transaction(async (tx) => {
        await tx.query(`INSERT INTO events (stream_id, stream_position, type, data) VALUES ('rb-ghost', 1, 'Ghost', '{}')`);
        appends = Array.from({ length: 20 }, (_, i) => opened.store.append(`rb-${i}`, 'no_stream', [ev(i)]));
        // On PostgreSQL they commit while this transaction is open; PGlite has one session, so there they queue behind it.
        if (backend.name === 'postgres') await Promise.all(appends);
        throw new Error('roll me back');
      })
      .catch((e: Error) => e.message);
    expect(await rollback).toBe('roll me back');
    await Promise.all(appends);
    for (let i = 0; i < 20; i++) expect(await opened.store.streamPosition(`rb-${i}`)).toBe(1);
    expect(await opened.store.streamPosition('rb-ghost')).toBe(0);
  });

  it('two stores (two processes) racing on one stream both land, gapless, with no position taken twice', async () => {
    const other = new EventStore(opened.db, { nodeId: 'other' });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? opened.store : other).append('race', 'any', [ev(i)])),
    );
    const positions = (await opened.store.readStream('race')).map((e) => e.streamPosition);
    expect(positions).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await other.drain();
  });

  it('concurrent appends to one stream never interleave: positions are gapless and each caller owns a contiguous run', async () => {
    const writers = Array.from({ length: 30 }, (_, w) => opened.store.append('one-stream', 'any', [ev(w * 10 + 1), ev(w * 10 + 2), ev(w * 10 + 3)]));
    const results = await Promise.all(writers);
    const events = await opened.store.readStream('one-stream');
    expect(events.map((e) => e.streamPosition)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    // What is stored at each caller's positions is that caller's three events, in order.
    const storedAt = new Map(events.map((e) => [e.streamPosition, (e.data as { n: number }).n]));
    for (const r of results) {
      const first = r.events[0].streamPosition;
      const n = (r.events[0].data as { n: number }).n;
      expect([0, 1, 2].map((k) => storedAt.get(first + k))).toEqual([n, n + 1, n + 2]);
    }
    expect(new Set(results.map((r) => r.events[0].streamPosition)).size).toBe(30);
  });
});

const pgOnly = backends().filter((b) => b.name === 'postgres');
(pgOnly.length ? describe.each(pgOnly) : describe.skip.each([{ name: 'postgres' } as never]))('EventStore tail on $name with a late commit', (backend) => {
  it('a writer holding its transaction open while later ones commit is still seen, in order', async () => {
    const db = await openDatabase(backend);
    const store = new EventStore(db, { nodeId: 'writer' });
    const seen: RecordedEvent[] = [];
    const tail = new LogTail(store, (events) => seen.push(...events), { pollMs: 20, pageSize: 100, includeOwn: true });
    await tail.start();
    try {
      // A slow writer takes a global position first and commits last.
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const didInsert = new Promise<void>((r) => (inserted = r));
      const slow = db.transaction(async (tx) => {
        await tx.query(`INSERT INTO events (stream_id, stream_position, type, data) VALUES ('late', 1, 'Counted', '{"n":0}')`);
        inserted();
        await held;
      });
      await didInsert;
      for (let i = 1; i <= 5; i++) await store.append('early', i - 1, [ev(i)]);
      // The reader polls every 20 ms: give it many rounds. Until the slow transaction ends it must not pass it.
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.filter((e) => e.streamId === 'early')).toHaveLength(0);
      release();
      await slow;
      const deadline = Date.now() + 10_000;
      while (seen.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen.map((e) => e.streamId)).toEqual(['late', 'early', 'early', 'early', 'early', 'early']);
      expect(new Set(seen.map((e) => e.globalPosition)).size).toBe(6);
    } finally {
      await tail.stop();
      await store.drain();
      await db.close();
      await backend.cleanup();
    }
  });
});

describe.each(backends())('EventStore guarantees on $name', (backend) => {
  const opened = useEventStore(backend);
  const payload = (n: number, bytes: number) => ({ type: 'Padded', data: { n, pad: 'x'.repeat(bytes) } });

  it('an empty append still asserts its expected version, atomically with the rest of appendMany', async () => {
    await opened.store.append('empty', 'no_stream', [ev(1), ev(2), ev(3)]);
    await expect(opened.store.append('empty', 1, [])).rejects.toMatchObject({ name: 'ConcurrencyError', actual: 3 });
    await expect(opened.store.append('empty', 'no_stream', [])).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(opened.store.append('empty-missing', 'stream_exists', [])).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(opened.store.append('empty', 3, [])).resolves.toMatchObject({ nextExpectedVersion: 3, events: [] });
    await expect(opened.store.append('empty-missing', 'no_stream', [])).resolves.toMatchObject({ nextExpectedVersion: 0 });
    await expect(
      opened.store.appendMany([
        { streamId: 'empty-other', expected: 'no_stream', events: [ev(1)] },
        { streamId: 'empty', expected: 1, events: [] },
      ]),
    ).rejects.toMatchObject({ name: 'ConcurrencyError', streamId: 'empty' });
    expect(await opened.store.streamPosition('empty-other')).toBe(0);
    const ok = await opened.store.appendMany([
      { streamId: 'empty-other', expected: 'no_stream', events: [ev(1)] },
      { streamId: 'empty', expected: 3, events: [] },
    ]);
    expect(ok.map((r) => r.nextExpectedVersion)).toEqual([1, 3]);
  });

  it('readStream reads one bounded page; streamPages reads a long stream page by page', async () => {
    await opened.store.append('long', 'no_stream', Array.from({ length: 2500 }, (_, i) => ev(i + 1)));
    expect(await opened.store.readStream('long')).toHaveLength(1000);
    const sizes: number[] = [];
    let last = 0;
    for await (const page of opened.store.streamPages('long')) {
      sizes.push(page.length);
      expect(page[0].streamPosition).toBe(last + 1);
      last = page.at(-1)!.streamPosition;
    }
    expect(sizes).toEqual([1000, 1000, 500]);
    const tail: number[] = [];
    for await (const page of opened.store.streamPages('long', { after: 2400, pageSize: 60 })) tail.push(page.length);
    expect(tail).toEqual([60, 40]);
  });

  it('bounds a group commit in bytes; one append over the bound still goes, alone', async () => {
    const store = new EventStore(opened.db, { maxBatchBytes: 3000 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.append(`bytes-${i}`, 'no_stream', [payload(i, 1000)])));
    // About 1 KB each: at most two fit under 3000 bytes, so twelve take at least six transactions.
    expect(new Set(results.map((r) => r.events[0].transactionId)).size).toBeGreaterThanOrEqual(6);
    await expect(store.append('bytes-big', 'no_stream', [payload(0, 10_000)])).resolves.toMatchObject({ nextExpectedVersion: 1 });
    await store.drain();
  });

  it('bounds the append queue in bytes: past it, appends fail fast with EventStoreOverloadedError', async () => {
    const store = new EventStore(opened.db, { maxQueuedBytes: 4000 });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.append(`queued-${i}`, 'no_stream', [payload(i, 1000)])));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(EventStoreOverloadedError);
    for (let i = 0; i < 10; i++) expect(await opened.store.streamPosition(`queued-${i}`)).toBe(results[i].status === 'fulfilled' ? 1 : 0);
    await store.drain();
  });

  it('an inline handler writes in the append’s own transaction, seeing the recorded events; other batches skip it', async () => {
    await opened.db.query(`CREATE TABLE inline_copy (global_position bigint PRIMARY KEY, stream_id text, stream_position bigint, transaction_id text)`);
    const store = new EventStore(opened.db);
    const unregister = store.registerInline({
      name: 'copy',
      handles: (event) => event.streamId.startsWith('inl-'),
      handle: async (tx, events) => {
        await tx.query(
          `INSERT INTO inline_copy SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[])`,
          [events.map((e) => e.globalPosition), events.map((e) => e.streamId), events.map((e) => e.streamPosition), events.map((e) => e.transactionId)],
        );
      },
    });
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => store.append(`inl-${i}`, 'no_stream', [ev(1), ev(2)])),
      store.append('not-inl', 'no_stream', [ev(1)]),
    ]);
    const copied = await opened.db.query(`SELECT global_position::int AS g, stream_id, stream_position::int AS p, transaction_id FROM inline_copy ORDER BY 1`);
    const logged = await opened.db.query(
      `SELECT global_position::int AS g, stream_id, stream_position::int AS p, transaction_id::text AS transaction_id FROM events WHERE stream_id LIKE 'inl-%' ORDER BY 1`,
    );
    expect(logged).toHaveLength(10);
    expect(copied).toEqual(logged);
    unregister();
    await store.append('inl-after', 'no_stream', [ev(1)]);
    expect(await opened.db.query(`SELECT 1 FROM inline_copy WHERE stream_id = 'inl-after'`)).toHaveLength(0);
    await store.drain();
  });

  it('a throwing inline handler fails only the append it throws for: neither its events nor its rows remain', async () => {
    await opened.db.query(`CREATE TABLE inline_strict (stream_id text, n int)`);
    const store = new EventStore(opened.db);
    const refusal = new Error('13 is unlucky');
    store.registerInline({
      name: 'strict',
      handles: (event) => event.streamId.startsWith('strict-'),
      handle: async (tx, events) => {
        for (const e of events) {
          await tx.query(`INSERT INTO inline_strict VALUES ($1, $2)`, [e.streamId, (e.data as { n: number }).n]);
          if ((e.data as { n: number }).n === 13) throw refusal;
        }
      },
    });
    const results = await Promise.allSettled([
      store.append('strict-a', 'no_stream', [ev(1)]),
      store.append('strict-bad', 'no_stream', [ev(12), ev(13)]),
      store.append('strict-b', 'no_stream', [ev(2)]),
      store.append('plain', 'no_stream', [ev(13)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBe(refusal);
    expect(await opened.store.streamPosition('strict-bad')).toBe(0);
    const rows = await opened.db.query(`SELECT stream_id, n FROM inline_strict ORDER BY stream_id`);
    expect(rows).toEqual([{ stream_id: 'strict-a', n: 1 }, { stream_id: 'strict-b', n: 2 }]);
    await store.drain();
  });

  it('an inline handler may defer its writes to the COMMIT: they land with the append, and a refused one fails only its append', async () => {
    await opened.db.query(`CREATE TABLE inline_deferred (stream_id text, n int CHECK (n <> 13))`);
    const store = new EventStore(opened.db);
    let offered = 0;
    store.registerInline({
      name: 'deferred',
      handles: (event) => event.streamId.startsWith('later-'),
      handle: async (tx, events) => {
        if (tx.defer) offered++;
        const values = events.map((e) => `('${e.streamId}', ${(e.data as { n: number }).n})`).join(', ');
        tx.defer!(`INSERT INTO inline_deferred VALUES ${values}`);
      },
    });
    const results = await Promise.allSettled([
      store.append('later-a', 'no_stream', [ev(1)]),
      store.append('later-bad', 'no_stream', [ev(12), ev(13)]),
      store.append('later-b', 'no_stream', [ev(2)]),
    ]);
    expect(offered).toBeGreaterThan(0);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await opened.store.streamPosition('later-bad')).toBe(0);
    expect(await opened.store.streamPosition('later-a')).toBe(1);
    const rows = await opened.db.query(`SELECT stream_id, n FROM inline_deferred ORDER BY stream_id`);
    expect(rows).toEqual([{ stream_id: 'later-a', n: 1 }, { stream_id: 'later-b', n: 2 }]);
    await store.drain();
  });
});
