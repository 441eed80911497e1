/**
 * Row 1 — durable pushes/s. Tideline: 200 WebSocket connections (2 in each of 100 rooms, in 2 load
 * processes), each keeping `inFlight` append pushes outstanding; a push counts when its broadcast (sent
 * after commit) returns to the sender inside the window. Peers write to an identical `events` table:
 * the batched-INSERT ceiling (one pg client, the same number of events), emmett's appendToStream and
 * TypeORM repository.save() (200 concurrent writers each, one event per call).
 */
import pg from 'pg';
import { Context, split } from '../lib/context.js';
import { LoadProcess, withLoad } from '../lib/load.js';
import { createRooms } from '../lib/rooms.js';
import { Histogram } from '../lib/stats.js';
import { evaluate, type Row, type Target } from '../lib/table.js';
import type { DurablePushersResult } from '../load/durable-pushers.js';
import type { BatchedInsertResult } from '../peers/batched-insert.js';
import type { WritersResult } from '../lib/writers.js';

const ROOMS = 100;
const CONNS_PER_ROOM = 2;
const PUSHER_PROCS = 2;
const WRITERS = ROOMS * CONNS_PER_ROOM;
const POOL = 10;
const BATCH = 1000;

type Figure = { value: number | null; na?: string };

export async function durable(ctx: Context): Promise<Row[]> {
  const { opts } = ctx;
  const seconds = opts.measureMs / 1000;
  const resultTimeout = opts.warmupMs + opts.measureMs + 60_000;

  // Tideline
  const tideline: Figure = { value: null };
  let acked = 0;
  try {
    const url = await ctx.postgres('durable_tideline');
    ctx.log(`tideline: ${WRITERS} connections in ${ROOMS} rooms, ${opts.inFlight} appends in flight each`);
    const server = await ctx.startTideline({ kind: 'postgres', url });
    try {
      const rooms = await createRooms(server.httpUrl, ROOMS, 16);
      const parts = split(rooms, PUSHER_PROCS);
      const procs = parts.map((_, i) => new LoadProcess<DurablePushersResult>(`durable-pushers-${i}`, 'bench/load/durable-pushers.ts', opts.verbose));
      const results = await withLoad(procs, async () => {
        await Promise.all(procs.map((p, i) => p.setup({ wsUrl: server.wsUrl, rooms: parts[i], connsPerRoom: CONNS_PER_ROOM, inFlight: opts.inFlight, procIndex: i })));
        const window = ctx.window();
        for (const p of procs) p.start(window);
        return Promise.all(procs.map((p) => p.result(resultTimeout)));
      });
      acked = results.reduce((s, r) => s + r.acked, 0);
      const latency = results.reduce((h, r) => h.merge(r.latency), new Histogram()).summary();
      const closed = results.reduce((s, r) => s + r.closed, 0);
      const rowsInLog = await countEvents(url);
      const errors = results.reduce((s, r) => s + r.errors, 0);
      if (errors) ctx.note(`durable: Tideline answered ${errors} pushes with an error frame, first: ${results.find((r) => r.firstError)?.firstError}`);
      if (closed) ctx.note(`durable: the server closed ${closed} of ${WRITERS} sockets during the run`);
      tideline.value = acked / seconds;
      if (rowsInLog !== null && rowsInLog < acked) ctx.note(`durable: Tideline acknowledged ${acked} pushes in the window but its events table holds only ${rowsInLog} rows`);
      ctx.details.durable_tideline = { acked, sent: results.reduce((s, r) => s + r.sent, 0), errorFrames: errors, closedSockets: closed, ackLatencyMs: latency, rowsInLog, serverRssKb: server.rssKb() };
      ctx.log(`tideline: ${Math.round(tideline.value)} durable pushes/s (ack p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms)${closed ? `, ${closed} sockets closed by server` : ''}`);
      if (acked === 0) {
        tideline.value = null;
        tideline.na = 'no pushes acknowledged';
        ctx.note(`durable: Tideline acknowledged no pushes${closed ? ` (${closed} sockets were closed)` : ''}${server.stderrTail() ? `; server stderr: ${server.stderrTail().split('\n').slice(-3).join(' / ')}` : ''}`);
      }
    } finally {
      await server.stop();
    }
  } catch (error) {
    tideline.na = ctx.na(error, 'durable (tideline)');
  }

  // Ceiling: the same number of events through one pg client as multi-row INSERTs.
  const ceiling: Figure = { value: null };
  try {
    const url = await ctx.postgres('durable_ceiling');
    const events = Math.max(acked, opts.quick ? 20_000 : 50_000);
    ctx.log(`ceiling: ${events} events, ${BATCH}-row INSERTs from one pg client`);
    const p = new LoadProcess<BatchedInsertResult>('batched-insert', 'bench/peers/batched-insert.ts', opts.verbose);
    const r = await withLoad([p], async () => {
      await p.setup({ url, events, batch: BATCH, streams: ROOMS });
      p.start(ctx.window(0));
      return p.result(300_000);
    });
    ceiling.value = r.events / (r.elapsedMs / 1000);
    ctx.details.durable_ceiling = { ...r, batch: BATCH };
    ctx.log(`ceiling: ${Math.round(ceiling.value)} events/s`);
  } catch (error) {
    ceiling.na = ctx.na(error, 'durable (batched INSERT)');
  }

  const writersPeer = async (name: string, script: string, config: Record<string, unknown>, purpose: string): Promise<Figure> => {
    try {
      const url = await ctx.postgres(purpose);
      ctx.log(`${name}: ${WRITERS} concurrent writers, one event per call`);
      const p = new LoadProcess<WritersResult>(name, script, opts.verbose);
      const r = await withLoad([p], async () => {
        await p.setup({ url, writers: WRITERS, ...config });
        p.start(ctx.window());
        return p.result(resultTimeout);
      });
      const latency = Histogram.fromJSON(r.latency).summary();
      ctx.details[`durable_${purpose.replace('durable_', '')}`] = { completed: r.completed, errors: r.errors, firstError: r.firstError, latencyMs: latency, ...config };
      if (r.errors) ctx.note(`${name}: ${r.errors} errors, first: ${r.firstError}`);
      const value = r.completed / seconds;
      ctx.log(`${name}: ${Math.round(value)} events/s (p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms)`);
      return { value };
    } catch (error) {
      return { value: null, na: ctx.na(error, `durable (${name})`) };
    }
  };
  const emmett = await writersPeer('emmett', 'bench/peers/emmett.ts', {}, 'durable_emmett');
  const naive = await writersPeer('naive-typeorm', 'bench/peers/naive-typeorm.ts', { poolSize: POOL }, 'durable_naive');

  const row = (scenario: string, peer: string, p: Figure, target: Target): Row => {
    const ratio = tideline.value !== null && p.value ? tideline.value / p.value : null;
    return { section: 'durable', scenario, unit: '/s', tideline: tideline.value, na: tideline.na, peer, peerValue: p.value, peerNa: p.na, ratio, target, met: evaluate(target, tideline.value, ratio) };
  };
  return [
    row(`durable pushes/s (append, ${WRITERS} conns × ${opts.inFlight} in flight)`, `batched INSERT ceiling (1 client, ${BATCH} rows/stmt)`, ceiling, { kind: 'ratio>=', value: 0.7 }),
    row('durable pushes/s vs emmett', `emmett appendToStream (${WRITERS} writers)`, emmett, { kind: 'ratio>=', value: 5 }),
    row('durable pushes/s vs naive TypeORM', `TypeORM save() (${WRITERS} writers, pool ${POOL})`, naive, { kind: 'ratio>=', value: 5 }),
  ];
}

/** Rows in Tideline's log after the run (a sanity check that acknowledged pushes were stored), or null. */
async function countEvents(url: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM events`);
    return Number(r.rows[0].n);
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}
