import { backends, useEventStore } from '../../../test/support/databases.js';
import type { SqlSession } from '../database/database.js';
import type { RecordedEvent } from '../event-store/event.js';
import { EventFeed } from './event-feed.js';
import { checkpointOf } from './log-position.js';
import { ProjectionRuntime } from './projection-runtime.js';
import { PublishingAppender } from './publishing-appender.js';
import { ProjectionTimeoutError, type Projector } from './projector.js';

const FAST = { batchSize: 7, pollMs: 50, lockRetryMs: 100, maxBackoffMs: 200 };

/** A trivial read model: one row per selected event, so a lost or doubled event shows as a wrong row set. */
function tallyProjector(table: string, version = 1, fail?: (event: RecordedEvent) => boolean): Projector {
  return {
    name: `tally-${table}`,
    version,
    selection: { streamPrefixes: [`${table}:`], eventTypes: ['Counted'] },
    tables: [table],
    async handle(tx: SqlSession, events: readonly RecordedEvent[]) {
      for (const event of events) {
        if (fail?.(event)) throw new Error(`refusing ${event.streamId}@${event.streamPosition}`);
      }
      await tx.query(`INSERT INTO ${table} (global_position, stream_id, n) SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[])`, [
        events.map((e) => e.globalPosition),
        events.map((e) => e.streamId),
        events.map((e) => (e.data as { n: number }).n),
      ]);
    },
  };
}

const counted = (n: number) => ({ type: 'Counted', data: { n } });

describe.each(backends())('projector runtime on $name', (backend) => {
  const opened = useEventStore(backend);
  const runtimes: ProjectionRuntime[] = [];
  afterEach(async () => {
    for (const runtime of runtimes.splice(0)) await runtime.stop();
  });

  async function table(name: string): Promise<string> {
    await opened.db.query(`CREATE TABLE IF NOT EXISTS ${name} (global_position bigint NOT NULL, stream_id text NOT NULL, n int NOT NULL)`);
    return name;
  }

  function runtimeWith(...projectors: Projector[]): ProjectionRuntime {
    const runtime = new ProjectionRuntime(opened.db, opened.store, new EventFeed(), FAST);
    projectors.forEach((p) => runtime.register(p));
    runtimes.push(runtime);
    return runtime;
  }

  async function rows(name: string): Promise<[number, string, number][]> {
    const found = await opened.db.query(`SELECT global_position, stream_id, n FROM ${name} ORDER BY global_position`);
    return found.map((r) => [Number(r.global_position), r.stream_id, r.n]);
  }

  async function selectedFromLog(name: string): Promise<[number, string, number][]> {
    const found = await opened.db.query(
      `SELECT global_position, stream_id, (data->>'n')::int AS n FROM events WHERE stream_id LIKE $1 AND type = 'Counted' ORDER BY global_position`,
      [`${name}:%`],
    );
    return found.map((r) => [Number(r.global_position), r.stream_id, r.n]);
  }

  it('keeps a table of the selected events, and a caller can wait until its own append is in it', async () => {
    const projector = tallyProjector(await table('tally_live'));
    const runtime = runtimeWith(projector);
    await runtime.start();
    await opened.store.append('other-1', 'no_stream', [counted(99)]);
    let last: RecordedEvent | undefined;
    for (let i = 0; i < 30; i++) {
      const result = await opened.store.append(`tally_live:${i % 3}`, 'any', [counted(i), { type: 'Ignored', data: {} }]);
      last = result.events[0];
    }
    await runtime.waitFor(projector.name, checkpointOf(last!));
    expect(await rows('tally_live')).toEqual(await selectedFromLog('tally_live'));
    const [status] = await runtime.status();
    expect(status).toMatchObject({ name: projector.name, owned: true, version: 1, mode: 'async' });
    expect(status.failure).toBeUndefined();
  });

  it("a commit published here wakes only the projectors that select its events (no read of the log for the others)", async () => {
    const feed = new EventFeed();
    const runtime = new ProjectionRuntime(opened.db, opened.store, feed, { ...FAST, pollMs: 60_000 });
    runtimes.push(runtime);
    const [a, b] = [tallyProjector(await table('tally_wake_a')), tallyProjector(await table('tally_wake_b'))];
    runtime.register(a);
    runtime.register(b);
    const reads = { a: 0, b: 0 };
    const store = opened.store;
    const readLog = store.readLog.bind(store);
    store.readLog = ((from, options) => {
      if (options?.streamPrefixes?.includes('tally_wake_a:')) reads.a++;
      if (options?.streamPrefixes?.includes('tally_wake_b:')) reads.b++;
      return readLog(from, options);
    }) as typeof store.readLog;
    try {
      await runtime.start();
      const appender = new PublishingAppender(store, feed);
      await runtime.waitFor(b.name, await store.logHead());
      let last: RecordedEvent | undefined;
      for (let i = 0; i < 5; i++) last = (await appender.append('tally_wake_a:1', 'any', [counted(i)])).events[0];
      await runtime.waitFor(a.name, checkpointOf(last!));
      const before = { ...reads };
      for (let i = 0; i < 5; i++) last = (await appender.append('tally_wake_a:1', 'any', [counted(i)])).events[0];
      await runtime.waitFor(a.name, checkpointOf(last!));
      expect(reads.a).toBeGreaterThan(before.a);
      expect(reads.b).toBe(before.b);
      last = (await appender.append('tally_wake_b:1', 'any', [counted(7)])).events[0];
      await runtime.waitFor(b.name, checkpointOf(last!));
      expect(await rows('tally_wake_b')).toEqual(await selectedFromLog('tally_wake_b'));
    } finally {
      store.readLog = readLog;
    }
  });

  it('a projector that gathers takes the commits of its gathering time in one batch', async () => {
    const feed = new EventFeed();
    const runtime = new ProjectionRuntime(opened.db, opened.store, feed, { ...FAST, pollMs: 60_000 });
    runtimes.push(runtime);
    const base = tallyProjector(await table('tally_gather'));
    let batches = 0;
    const projector: Projector = { ...base, gatherMs: 1000, handle: (tx, events) => (batches++, base.handle(tx, events)) };
    runtime.register(projector);
    await runtime.start();
    const appender = new PublishingAppender(opened.store, feed);
    await runtime.waitFor(projector.name, await opened.store.logHead());
    const before = batches;
    let last: RecordedEvent | undefined;
    for (let i = 0; i < 5; i++) last = (await appender.append('tally_gather:1', 'any', [counted(i)])).events[0];
    await runtime.waitFor(projector.name, checkpointOf(last!));
    expect(batches - before).toBe(1);
    expect(await rows('tally_gather')).toEqual(await selectedFromLog('tally_gather'));
  });

  it('a rebuild, or a new version, gives the same table as the live run', async () => {
    const name = await table('tally_rebuild');
    const v1 = tallyProjector(name);
    const first = runtimeWith(v1);
    await first.start();
    let last!: RecordedEvent;
    for (let i = 0; i < 25; i++) last = (await opened.store.append(`${name}:${i % 4}`, 'any', [counted(i)])).events[0];
    await first.waitFor(v1.name, checkpointOf(last));
    const live = await rows(name);

    await opened.db.query(`DELETE FROM ${name} WHERE n > 20`);
    await first.rebuild(v1.name);
    await first.waitFor(v1.name, checkpointOf(last));
    expect(await rows(name)).toEqual(live);
    await first.stop();

    const v2 = runtimeWith(tallyProjector(name, 2));
    await opened.db.query(`DELETE FROM ${name} WHERE n < 5`); // damage that only a replay repairs
    await v2.start();
    await v2.waitFor(v1.name, checkpointOf(last));
    expect(await rows(name)).toEqual(live);
    expect(live).toEqual(await selectedFromLog(name));
  });

  it('stops at an event its handler throws on, retries it, and skips nothing', async () => {
    const name = await table('tally_failing');
    let refusing = true;
    const projector = tallyProjector(name, 1, (e) => refusing && (e.data as { n: number }).n === 13);
    const runtime = runtimeWith(projector);
    await runtime.start();
    let last!: RecordedEvent;
    let bad!: RecordedEvent;
    for (let i = 0; i < 20; i++) {
      last = (await opened.store.append(`${name}:f`, 'any', [counted(i)])).events[0];
      if (i === 13) bad = last;
    }
    await expect(runtime.waitFor(projector.name, checkpointOf(last), 600)).rejects.toBeInstanceOf(ProjectionTimeoutError);
    // Everything before the bad event landed; the bad one and all after it wait.
    expect((await rows(name)).map(([, , n]) => n)).toEqual(Array.from({ length: 13 }, (_, i) => i));
    const [status] = await runtime.status();
    expect(status.failure).toMatchObject({ globalPosition: bad.globalPosition, streamId: `${name}:f`, streamPosition: 14 });
    expect(status.failure!.attempts).toBeGreaterThan(1);

    refusing = false;
    await runtime.waitFor(projector.name, checkpointOf(last));
    expect((await rows(name)).map(([, , n]) => n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await runtime.status())[0].failure).toBeUndefined();
  });

  it('an inline projector never lags: its rows commit with the append, its failure fails the append, a new version rebuilds', async () => {
    const name = await table('tally_inline');
    for (let i = 0; i < 5; i++) await opened.store.append(`${name}:before`, 'any', [counted(i)]); // already in the log
    let refuse = false;
    const inline = (version: number): Projector => ({ ...tallyProjector(name, version, (e) => refuse && (e.data as { n: number }).n === 666), mode: 'inline' });
    const first = runtimeWith(inline(1));
    await first.start(); // built from the log: the five events before it
    expect(await rows(name)).toEqual(await selectedFromLog(name));
    for (let i = 5; i < 15; i++) {
      await opened.store.append(`${name}:s`, 'any', [counted(i)]);
      expect((await rows(name)).length).toBe(i + 1); // no waiting: it is in the table when the append returns
    }
    refuse = true;
    const results = await Promise.allSettled([
      opened.store.append(`${name}:s`, 'any', [counted(15)]),
      opened.store.append(`${name}:bad`, 'any', [counted(666)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(await opened.store.streamPosition(`${name}:bad`)).toBe(0);
    refuse = false;
    const live = await rows(name);
    expect(live).toEqual(await selectedFromLog(name));
    expect((await first.status())[0]).toMatchObject({ mode: 'inline', lag: 0 });
    await first.stop();

    await opened.db.query(`DELETE FROM ${name} WHERE n < 3`);
    const second = runtimeWith(inline(2));
    await second.start();
    expect(await rows(name)).toEqual(live);
  });
});

if (backends().some((b) => b.name === 'postgres')) {
  describe('projector ownership on a shared PostgreSQL', () => {
    const opened = useEventStore(backends().find((b) => b.name === 'postgres')!);

    it('one process runs a projector at a time; another takes over from the committed checkpoint', async () => {
      await opened.db.query(`CREATE TABLE tally_owned (global_position bigint NOT NULL, stream_id text NOT NULL, n int NOT NULL)`);
      const one = new ProjectionRuntime(opened.db, opened.store, new EventFeed(), FAST);
      const two = new ProjectionRuntime(opened.db, opened.store, new EventFeed(), FAST);
      const projector = tallyProjector('tally_owned');
      one.register(projector);
      two.register(tallyProjector('tally_owned'));
      await one.start();
      await two.start();
      let last!: RecordedEvent;
      for (let i = 0; i < 10; i++) last = (await opened.store.append('tally_owned:o', 'any', [counted(i)])).events[0];
      await two.waitFor(projector.name, checkpointOf(last));
      expect((await one.status())[0].owned).toBe(true);
      expect((await two.status())[0].owned).toBe(false);

      await one.stop();
      for (let i = 10; i < 20; i++) last = (await opened.store.append('tally_owned:o', 'any', [counted(i)])).events[0];
      await two.waitFor(projector.name, checkpointOf(last));
      expect((await two.status())[0].owned).toBe(true);
      const found = await opened.db.query(`SELECT n FROM tally_owned ORDER BY global_position`);
      expect(found.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      await two.stop();
    });
  });
}
