/**
 * Rows — JET streams (the JSONJet dialect, `/ws` + `/api/*`).
 *
 * Durable inserts: Tideline on a scratch PostgreSQL database, one stream (`create stream s` over
 * POST /api/execute), `WRITERS` sockets in one load process each keeping `IN_FLIGHT` inserts of `BATCH` records
 * outstanding (closed loop: Tideline answers an insert once its records are durable), `SUBSCRIBERS` sockets
 * subscribed to the stream in `SUBSCRIBER_PROCS` processes counting data frames. Records carry their send
 * time (shared monotonic clock) → insert → deliver latency. Peers, in the same run:
 *  - ceiling: bench/peers/batched-insert.ts, one pg client writing the same number of records Tideline
 *    acknowledged into an identical `events` table, `BATCH` rows per INSERT;
 *  - bare: bench/peers/jet-bare-server.ts, a `ws` server answering the same JSONJet frames with no storage,
 *    offered exactly Tideline's acknowledged records/s (same sockets and batches, paced open loop), so its
 *    deliveries are what the same frames cost without the log.
 *
 * Flow throughput: a fresh server and database, the flow `s | where v > 0 | insert_into(out)` (every record
 * passes), the same closed-loop writers into `s` and the subscribers on `out`: records/s that reach `out`'s
 * subscribers (end to end: insert, flow batch with its outbox, append to `out`, delivery), against the plain
 * insert rate of the first run.
 *
 * Live-query evaluation: bench/load/jet-query.ts, in one process: µs per record of Tideline's query engine
 * (`instantiate(parseJet(…).pipeline)`) for where + select + summarize over a 1 s tumbling window, against a
 * hand-written JS loop doing the same.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Context } from '../lib/context.js';
import { LoadProcess, withLoad } from '../lib/load.js';
import { httpCall } from '../lib/rooms.js';
import type { ServerHandle } from '../lib/server.js';
import { Histogram, median, type LatencySummary } from '../lib/stats.js';
import { evaluate, formatNumber, type Row, type Target } from '../lib/table.js';
import type { BatchedInsertResult } from '../peers/batched-insert.js';
import type { JetQueryConfig, JetQueryResult } from '../load/jet-query.js';
import type { JetSubscribersResult } from '../load/jet-subscribers.js';
import type { JetWritersConfig, JetWritersResult } from '../load/jet-writers.js';

const STREAM = 's';
const WRITERS = 4;
const BATCH = 100;
const IN_FLIGHT = 4;
const SUBSCRIBERS = 10;
const SUBSCRIBER_PROCS = 2;
const DRAIN_MS = 1000;
const QUERY_RECORDS = 1_000_000;

type Run = {
  ackedPerSec: number;
  deliveriesPerSec: number;
  offeredDeliveriesPerSec: number;
  completeness: number;
  latency: LatencySummary;
  ackLatency: LatencySummary;
  acked: number;
  ackedInWindow: number;
};
type Measured = Run | { na: string };
type Figure = { value: number | null; na?: string };

/** The flow of the flow-throughput row: every record passes (v > 0), so what reaches FLOW_TARGET is what was inserted. */
const FLOW_TARGET = 'out';
const FLOW = `create flow f as ${STREAM} | where v > 0 | insert_into(${FLOW_TARGET})`;

async function execute(server: ServerHandle, query: string): Promise<void> {
  const res = await httpCall('POST', `${server.httpUrl}/api/execute`, JSON.stringify({ query }));
  if (res.status < 200 || res.status >= 300 || !/"success":\s*true/.test(res.text)) throw new Error(`${query} → ${res.status} ${res.text.slice(0, 200)}`);
}

/**
 * One run of writers + subscribers against `server`: closed loop (`inFlight`) or paced (`recordsPerSec`).
 * With `flow`, the subscribers listen to the flow's target instead of the stream the writers insert into.
 */
async function runInserts(ctx: Context, server: ServerHandle, who: string, load: Pick<JetWritersConfig, 'inFlight' | 'recordsPerSec'>, flow = false): Promise<Run> {
  const { opts } = ctx;
  await execute(server, `create stream ${STREAM}`);
  if (flow) {
    await execute(server, `create stream ${FLOW_TARGET}`);
    await execute(server, FLOW);
  }
  const wsUrl = `${server.wsUrl}/ws`;
  const perProc = Array.from({ length: SUBSCRIBER_PROCS }, (_, i) => Math.floor(SUBSCRIBERS / SUBSCRIBER_PROCS) + (i < SUBSCRIBERS % SUBSCRIBER_PROCS ? 1 : 0));
  const subs = perProc.map((_, i) => new LoadProcess<JetSubscribersResult>(`jet-${who}-subs-${i}`, 'bench/load/jet-subscribers.ts', opts.verbose));
  const writers = new LoadProcess<JetWritersResult>(`jet-${who}-writers`, 'bench/load/jet-writers.ts', opts.verbose);
  return withLoad([...subs, writers], async () => {
    await Promise.all(subs.map((p, i) => p.setup({ wsUrl, stream: flow ? FLOW_TARGET : STREAM, sockets: perProc[i], drainMs: DRAIN_MS })));
    await writers.setup({ wsUrl, stream: STREAM, sockets: WRITERS, batch: BATCH, ...load } satisfies JetWritersConfig);
    const window = ctx.window();
    for (const p of [...subs, writers]) p.start(window);
    const timeout = opts.warmupMs + opts.measureMs + DRAIN_MS + 60_000;
    const [w, ...received] = await Promise.all([writers.result(timeout), ...subs.map((p) => p.result(timeout))]);
    const seconds = opts.measureMs / 1000;
    const delivered = received.reduce((s, r) => s + r.deliveredInWindow, 0);
    const ofWindow = received.reduce((s, r) => s + r.deliveredOfWindowRecords, 0);
    const offered = w.sentRecordsInWindow * SUBSCRIBERS;
    const closed = received.reduce((s, r) => s + r.closed, 0) + w.closed;
    const errors = received.reduce((s, r) => s + r.errors, 0) + w.failed;
    if (closed) ctx.note(`jet (${who}): the server closed ${closed} of ${SUBSCRIBERS + WRITERS} sockets during the run`);
    if (errors) ctx.note(`jet (${who}): ${errors} failed inserts / error frames, first: ${w.firstError ?? received.find((r) => r.firstError)?.firstError}`);
    const run: Run = {
      ackedPerSec: w.ackedInWindow / seconds,
      deliveriesPerSec: delivered / seconds,
      offeredDeliveriesPerSec: offered / seconds,
      completeness: offered ? ofWindow / offered : 0,
      latency: received.reduce((h, r) => h.merge(r.latency), new Histogram()).summary(),
      ackLatency: Histogram.fromJSON(w.ackLatency).summary(),
      acked: w.ackedRecords,
      ackedInWindow: w.ackedInWindow,
    };
    ctx.log(
      `${who}: ${Math.round(run.ackedPerSec)} records/s acknowledged (ack p50 ${run.ackLatency.p50.toFixed(1)} ms, p99 ${run.ackLatency.p99.toFixed(1)} ms), ` +
        `${Math.round(run.deliveriesPerSec)} deliveries/s of ${Math.round(run.offeredDeliveriesPerSec)} offered, ${(run.completeness * 100).toFixed(1)}% delivered, ` +
        `insert→deliver p50 ${run.latency.p50.toFixed(2)} ms, p99 ${run.latency.p99.toFixed(2)} ms`,
    );
    ctx.details[`jet_${who}`] = { ...run, writers: w, load };
    return run;
  });
}

/** The compiled Tideline the bench runs (`<dist>/main.js` → `<dist>`), for the in-process query row. */
function moduleRoot(ctx: Context): string | undefined {
  if (ctx.standIn) return undefined;
  const main = ctx.tidelineCmd[1];
  if (!main || !main.endsWith('main.js')) return undefined;
  const root = dirname(resolve(main));
  return existsSync(resolve(root, 'core/query/index.js')) && existsSync(resolve(root, 'dialects/jet/parser/index.js')) ? root : undefined;
}

export async function jet(ctx: Context): Promise<Row[]> {
  const { opts } = ctx;
  const section = 'jet' as const;

  // 1. Tideline, closed loop.
  let tideline: Measured = { na: 'not measured' };
  try {
    const url = await ctx.postgres('jet_tideline');
    ctx.log(`tideline: ${WRITERS} writers × ${IN_FLIGHT} inserts of ${BATCH} in flight, ${SUBSCRIBERS} subscribers, stream '${STREAM}'`);
    const server = await ctx.startTideline({ kind: 'postgres', url });
    try {
      tideline = await runInserts(ctx, server, 'tideline', { inFlight: IN_FLIGHT });
      if (tideline.ackedInWindow === 0) {
        tideline = { na: 'no inserts acknowledged' };
        if (server.stderrTail()) ctx.note(`jet (tideline): server stderr: ${server.stderrTail().split('\n').slice(-3).join(' / ')}`);
      }
      ctx.details.jet_tideline_rss_kb = server.rssKb();
    } finally {
      await server.stop();
    }
  } catch (error) {
    tideline = { na: ctx.na(error, 'jet (tideline)') };
  }
  const t = 'na' in tideline ? undefined : tideline;

  // 2. Ceiling: the records Tideline acknowledged, through one pg client, BATCH rows per INSERT.
  const ceiling: Figure = { value: null };
  try {
    const url = await ctx.postgres('jet_ceiling');
    const events = Math.max(t?.acked ?? 0, opts.quick ? 20_000 : 50_000);
    ctx.log(`ceiling: ${events} records, ${BATCH}-row INSERTs from one pg client`);
    const p = new LoadProcess<BatchedInsertResult>('jet-batched-insert', 'bench/peers/batched-insert.ts', opts.verbose);
    const r = await withLoad([p], async () => {
      await p.setup({ url, events, batch: BATCH, streams: 1 });
      p.start(ctx.window(0));
      return p.result(300_000);
    });
    ceiling.value = r.events / (r.elapsedMs / 1000);
    ctx.details.jet_ceiling = { ...r, batch: BATCH };
    ctx.log(`ceiling: ${Math.round(ceiling.value)} records/s`);
  } catch (error) {
    ceiling.na = ctx.na(error, 'jet (batched INSERT)');
  }

  // 3. Bare JSONJet ws server, offered Tideline's acknowledged rate (or, without one, the closed loop).
  let bare: Measured = { na: 'not measured' };
  try {
    const server = await ctx.startBare('bench/peers/jet-bare-server.ts');
    try {
      const load = t ? { recordsPerSec: t.ackedPerSec } : { inFlight: IN_FLIGHT };
      ctx.log(`bare: ${t ? `paced at ${Math.round(t.ackedPerSec)} records/s (Tideline's acknowledged rate)` : `closed loop (no Tideline rate to pace at)`}`);
      bare = await runInserts(ctx, server, 'bare', load);
      if (bare.deliveriesPerSec === 0) bare = { na: 'nothing delivered' };
    } finally {
      await server.stop();
    }
  } catch (error) {
    bare = { na: ctx.na(error, 'jet (bare ws)') };
  }
  const b = 'na' in bare ? undefined : bare;
  for (const [who, m] of [['tideline', t], ['bare ws peer', b]] as const) {
    if (m && m.completeness < 0.9) {
      ctx.note(
        `jet: the ${who} delivered only ${(m.completeness * 100).toFixed(1)}% of the frames offered in the window (${Math.round(m.offeredDeliveriesPerSec)}/s offered): ` +
          `its deliveries/s is what it could send, and its latency is queueing${who === 'bare ws peer' && !opts.peerCork ? ' (stock ws writes each frame at once; --peer-cork corks per turn, as Tideline does)' : ''}`,
      );
    }
  }
  if (!t && b) ctx.note('jet: the bare ws peer ran closed loop (Tideline gave no acknowledged rate to offer it)');

  // 4. Flow throughput: the same writers into `s`, the subscribers on the flow's target.
  let flowRun: Measured = { na: 'not measured' };
  try {
    const url = await ctx.postgres('jet_flow');
    ctx.log(`flow: ${FLOW}, same writers, ${SUBSCRIBERS} subscribers on '${FLOW_TARGET}'`);
    const server = await ctx.startTideline({ kind: 'postgres', url });
    try {
      flowRun = await runInserts(ctx, server, 'flow', { inFlight: IN_FLIGHT }, true);
      if (flowRun.deliveriesPerSec === 0) flowRun = { na: 'nothing reached the flow target' };
    } finally {
      await server.stop();
    }
  } catch (error) {
    flowRun = { na: ctx.na(error, 'jet (flow)') };
  }
  const f = 'na' in flowRun ? undefined : flowRun;

  // 5. Live-query evaluation, in-process.
  let query: { engine: number; loop: number; result: JetQueryResult } | { na: string };
  try {
    const p = new LoadProcess<JetQueryResult>('jet-query', 'bench/load/jet-query.ts', opts.verbose);
    const root = moduleRoot(ctx);
    const result = await withLoad([p], async () => {
      await p.setup({ records: opts.quick ? 300_000 : QUERY_RECORDS, runs: opts.quick ? 2 : 3, keys: 16, recordsPerSecOfCommitTime: 100_000, moduleRoot: root } satisfies JetQueryConfig);
      p.start(ctx.window(0));
      return p.result(120_000);
    });
    const same = result.engine.windows === result.loop.windows && result.engine.n === result.loop.n && result.engine.total === result.loop.total;
    if (!same) ctx.note(`jet live query: the engine and the hand-written loop disagree: engine ${JSON.stringify(result.engine)}, loop ${JSON.stringify(result.loop)}`);
    query = { engine: median(result.engineUsPerRecord), loop: median(result.loopUsPerRecord), result };
    ctx.details.jet_query = result;
    ctx.log(
      `live query (${result.from}): engine ${result.engineUsPerRecord.map((u) => u.toFixed(3)).join(', ')} µs/record; ` +
        `hand-written ${result.loopUsPerRecord.map((u) => u.toFixed(3)).join(', ')} µs/record; ${result.engine.windows} window outputs${same ? ', same results' : ', RESULTS DIFFER'}`,
    );
  } catch (error) {
    query = { na: ctx.na(error, 'jet (live query)') };
  }

  const rows: Row[] = [];
  const tna = 'na' in tideline ? tideline.na : undefined;
  const bna = 'na' in bare ? bare.na : undefined;
  const label = `jet insert (${WRITERS} sockets × ${IN_FLIGHT} × ${BATCH} records in flight, 1 stream, ${SUBSCRIBERS} subs)`;
  const ackTarget: Target = { kind: 'ratio>=', value: 0.5 };
  const ackRatio = t && ceiling.value ? t.ackedPerSec / ceiling.value : null;
  rows.push({
    section, scenario: `${label}: records/s acknowledged`, unit: '/s',
    tideline: t?.ackedPerSec ?? null, na: tna, peer: `batched INSERT ceiling (1 client, ${BATCH} rows/stmt)`, peerValue: ceiling.value, peerNa: ceiling.na,
    ratio: ackRatio, target: ackTarget, met: evaluate(ackTarget, t?.ackedPerSec ?? null, ackRatio),
  });
  const peerName = t ? 'bare ws JSONJet (no storage), same frames at tideline’s rate' : 'bare ws JSONJet (no storage), closed loop';
  const delTarget: Target = { kind: 'ratio>=', value: 0.9 };
  const delRatio = t && b?.deliveriesPerSec ? t.deliveriesPerSec / b.deliveriesPerSec : null;
  rows.push({
    section, scenario: `${label}: deliveries/s`, unit: '/s',
    tideline: t?.deliveriesPerSec ?? null, na: tna, peer: peerName, peerValue: b?.deliveriesPerSec ?? null, peerNa: bna,
    ratio: delRatio, target: delTarget, met: evaluate(delTarget, t?.deliveriesPerSec ?? null, delRatio),
  });
  const ms = (v: number) => (v < 100 ? v.toFixed(2) : formatNumber(v, ''));
  const both = (m?: Run) => (m ? `${ms(m.latency.p50)} / ${ms(m.latency.p99)} ms` : undefined);
  const latRatio = t && b?.latency.p99 ? t.latency.p99 / b.latency.p99 : null;
  rows.push({
    section, scenario: 'jet insert → deliver latency p50 / p99', unit: 'ms',
    tideline: t?.latency.p99 ?? null, tidelineText: both(t), na: tna, peer: peerName, peerValue: b?.latency.p99 ?? null, peerText: both(b), peerNa: bna,
    ratio: latRatio, target: { kind: 'none' }, met: null,
  });
  const flowTarget: Target = { kind: 'ratio>=', value: 0.5 };
  const flowRate = f ? f.deliveriesPerSec / SUBSCRIBERS : null;
  const flowRatio = flowRate !== null && t?.ackedPerSec ? flowRate / t.ackedPerSec : null;
  rows.push({
    section, scenario: `jet flow \`${STREAM} | where v > 0 | insert_into(${FLOW_TARGET})\`: records/s end to end (inserted → delivered from ${FLOW_TARGET})`, unit: '/s',
    tideline: flowRate, na: 'na' in flowRun ? flowRun.na : undefined, peer: 'plain insert rate, same run (records/s acknowledged, row above)', peerValue: t?.ackedPerSec ?? null, peerNa: tna,
    ratio: flowRatio, target: flowTarget, met: evaluate(flowTarget, flowRate, flowRatio),
  });
  const qTarget: Target = { kind: 'ratio<=', value: 3 };
  const qe = 'na' in query ? null : query.engine;
  const ql = 'na' in query ? null : query.loop;
  const qRatio = qe !== null && ql ? qe / ql : null;
  const us = (v: number | null) => (v === null ? undefined : `${v.toFixed(3)} µs`);
  rows.push({
    section, scenario: `jet live query where+select+summarize by k over tumbling 1s: µs/record (${((opts.quick ? 300_000 : QUERY_RECORDS) / 1e6).toLocaleString('en-US')}M records, in-process)`, unit: 'µs',
    tideline: qe, tidelineText: us(qe), na: 'na' in query ? query.na : undefined, peer: 'hand-written JS loop (filter, project, Map by key per window)', peerValue: ql, peerText: us(ql), peerNa: 'na' in query ? query.na : undefined,
    ratio: qRatio, target: qTarget, met: evaluate(qTarget, qe, qRatio),
  });
  return rows;
}
