/**
 * Row — projector throughput. In this process, on a scratch PostgreSQL: `WRITERS` concurrent writers
 * append one event per call to their own streams (the durable append rate, the peer column), first alone,
 * then with a trivial async projector (one INSERT per batch into a table) running behind the log. Tideline's
 * figure is the events/s the projector handled from the first append until it reached the head of the log:
 * it keeps up when that matches the append rate.
 */
import { Database } from '../../src/core/database/database.js';
import { EventStore } from '../../src/core/event-store/event-store.js';
import { EventFeed } from '../../src/core/projections/event-feed.js';
import { ProjectionRuntime } from '../../src/core/projections/projection-runtime.js';
import type { Projector } from '../../src/core/projections/projector.js';
import type { Context } from '../lib/context.js';
import { evaluate, type Row, type Target } from '../lib/table.js';

const WRITERS = 64;

const tally: Projector = {
  name: 'bench-tally',
  version: 1,
  selection: { streamPrefixes: ['bench-'] },
  tables: ['bench_tally'],
  async handle(tx, events) {
    await tx.query(`INSERT INTO bench_tally (global_position, stream_id) SELECT * FROM unnest($1::bigint[], $2::text[])`, [
      events.map((e) => e.globalPosition),
      events.map((e) => e.streamId),
    ]);
  },
};

async function appendFor(store: EventStore, ms: number, tag: string): Promise<number> {
  const deadline = performance.now() + ms;
  let appended = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let version = 0; performance.now() < deadline; version++) {
        await store.append(`bench-${tag}-${w}`, version === 0 ? 'no_stream' : version, [{ type: 'Pushed', data: { w, version } }]);
        appended++;
      }
    }),
  );
  return appended;
}

export async function projector(ctx: Context): Promise<Row[]> {
  const target: Target = { kind: 'ratio>=', value: 0.95 };
  const row = (tideline: number | null, peerValue: number | null, na?: string): Row => {
    const ratio = tideline !== null && peerValue ? tideline / peerValue : null;
    return {
      section: 'projector',
      scenario: `async projector writing a table (${WRITERS} writers)`,
      unit: 'events/s',
      tideline,
      na,
      peer: 'durable append rate, same run',
      peerValue,
      ratio,
      target,
      met: evaluate(target, tideline, ratio),
    };
  };
  if (ctx.pgError) return [row(null, null, 'no PostgreSQL')];
  const url = await ctx.postgres('projector');
  const db = await Database.open({ kind: 'postgres', url });
  const store = new EventStore(db);
  const feed = new EventFeed();
  try {
    await db.query(`CREATE TABLE bench_tally (global_position bigint NOT NULL, stream_id text NOT NULL)`);
    const seconds = ctx.opts.measureMs / 1000;
    const alone = (await appendFor(store, ctx.opts.measureMs, 'alone')) / seconds;
    ctx.log(`appends alone: ${Math.round(alone)} events/s`);

    const runtime = new ProjectionRuntime(db, store, feed, { batchSize: 1000, pollMs: 50, lockRetryMs: 1000, maxBackoffMs: 1000 });
    runtime.register(tally);
    await runtime.start();
    await runtime.waitFor(tally.name, await store.logHead(), 120_000); // the first phase's events, before timing
    const [{ n: before }] = await db.query(`SELECT count(*)::int AS n FROM bench_tally`);
    const t0 = performance.now();
    const appended = await appendFor(store, ctx.opts.measureMs, 'live');
    const appendSeconds = (performance.now() - t0) / 1000;
    await runtime.waitFor(tally.name, await store.logHead(), 120_000);
    const projectedSeconds = (performance.now() - t0) / 1000;
    const [{ n: after }] = await db.query(`SELECT count(*)::int AS n FROM bench_tally`);
    await runtime.stop();
    if (after - before !== appended) ctx.note(`projector: ${after - before} rows for ${appended} events`);
    const rate = appended / appendSeconds;
    ctx.log(`with the projector: appends ${Math.round(rate)} events/s; projected ${Math.round(appended / projectedSeconds)} events/s (caught up ${Math.round((projectedSeconds - appendSeconds) * 1000)} ms after the last append)`);
    ctx.details.projector = { appendsAlone: alone, appendsWithProjector: rate, projected: appended / projectedSeconds, catchUpMs: (projectedSeconds - appendSeconds) * 1000 };
    return [row(appended / projectedSeconds, rate)];
  } finally {
    await store.drain();
    await db.close();
  }
}
