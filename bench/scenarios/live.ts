/**
 * Rows — live queries (the NSDb dialect's `/ws-stream`).
 *
 * Tideline on a scratch PostgreSQL database, one metric `db.ns.cpu`, points inserted at `RATE`/s over the
 * JET socket (bench/load/live-writers.ts: batches of `BATCH`, every point tagged `host` = h0…h49 and
 * `region` = r0…r9, its send time in the dimension `t`), while bench/load/live-subscribers.ts holds:
 *  1. mixed: `SOCKETS` sockets × 10 subscriptions = 1,000: 5 plain selects `where host = 'hK'` (each host asked
 *     by 10 sockets, so one evaluation per host) and 5 `count(*) … where region = 'rK' group by host`; rows:
 *     plain matches pushed/s against those offered (records × sockets asking for them), insert → push p99
 *     minus the refresh period, and server CPU per record against the same inserts with no subscription;
 *  2. distinct: 10, then 1,000 distinct tag-equality selects (`where host = 'hK'`, 1,000 hosts), one socket
 *     per 100: server CPU per record with 1,000 against 10, which stays flat when the index works (each
 *     record is tried against the queries of its own host only).
 * CPU is the server process's utime + stime (/proc) over the window.
 */
import { readFileSync } from 'node:fs';
import type { Context } from '../lib/context.js';
import { sleepUntil } from '../lib/clock.js';
import { LoadProcess, withLoad } from '../lib/load.js';
import { httpCall } from '../lib/rooms.js';
import type { ServerHandle } from '../lib/server.js';
import { Histogram, type LatencySummary } from '../lib/stats.js';
import { evaluate, type Row, type Target } from '../lib/table.js';
import type { LiveSubscribersConfig, LiveSubscribersResult } from '../load/live-subscribers.js';
import type { LiveWritersConfig, LiveWritersResult } from '../load/live-writers.js';

const METRIC = 'cpu';
const RATE = 2000;
const BATCH = 20;
const SOCKETS = 100;
const HOSTS = 50;
const REGIONS = 10;
const REFRESH_MS = 100;
const DRAIN_MS = 500;

type Phase = { cpuUsPerRecord: number; sent: number; seconds: number; subs?: LiveSubscribersResult; latency?: LatencySummary };

/** The server's CPU time so far (utime + stime), ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ = 100 on Linux)
}

async function phase(ctx: Context, server: ServerHandle, who: string, queries: string[][], hosts: number, measureMs: number): Promise<Phase> {
  const { opts } = ctx;
  const subs = queries.length ? new LoadProcess<LiveSubscribersResult>(`live-${who}-subs`, 'bench/load/live-subscribers.ts', opts.verbose) : undefined;
  const writer = new LoadProcess<LiveWritersResult>(`live-${who}-writer`, 'bench/load/live-writers.ts', opts.verbose);
  return withLoad(subs ? [subs, writer] : [writer], async () => {
    if (subs) await subs.setup({ wsUrl: `${server.wsUrl}/ws-stream?refresh_period=${REFRESH_MS}&retention_size=1000`, metric: METRIC, queries, drainMs: DRAIN_MS } satisfies LiveSubscribersConfig);
    await writer.setup({ wsUrl: `${server.wsUrl}/ws`, target: `db.ns.${METRIC}`, recordsPerSec: RATE, batch: BATCH, hosts, regions: REGIONS } satisfies LiveWritersConfig);
    const window = ctx.window(Math.min(opts.warmupMs, 1000), measureMs);
    subs?.start(window);
    writer.start(window);
    await sleepUntil(window.startMs);
    const cpu0 = cpuMs(server.pid);
    await sleepUntil(window.endMs);
    const cpu1 = cpuMs(server.pid);
    const timeout = measureMs + 60_000;
    const [w, s] = await Promise.all([writer.result(timeout), subs?.result(timeout)]);
    if (w.failed) ctx.note(`live (${who}): ${w.failed} inserts failed, first: ${w.firstError}`);
    if (s?.closed) ctx.note(`live (${who}): the server closed ${s.closed} of ${s.sockets} sockets`);
    if (s?.errors) ctx.note(`live (${who}): ${s.errors} error frames, first: ${s.firstError}`);
    const result: Phase = { cpuUsPerRecord: w.sentInWindow ? ((cpu1 - cpu0) * 1000) / w.sentInWindow : NaN, sent: w.sentInWindow, seconds: measureMs / 1000, subs: s };
    if (s) result.latency = Histogram.fromJSON(s.latency).summary();
    ctx.log(
      `${who}: ${w.sentInWindow} points in ${measureMs / 1000} s, server CPU ${result.cpuUsPerRecord.toFixed(1)} µs/point` +
        (s ? `, ${s.subscriptions} subscriptions (${s.quids} quids), ${Math.round(s.recordsInWindow / result.seconds)} records pushed/s in ${Math.round(s.pushesInWindow / result.seconds)} pushes/s, insert→push p50 ${result.latency!.p50.toFixed(1)} ms p99 ${result.latency!.p99.toFixed(1)} ms` : ''),
    );
    ctx.details[`live_${who}`] = { ...result, writer: w };
    return result;
  });
}

export async function live(ctx: Context): Promise<Row[]> {
  const { opts } = ctx;
  const section = 'live' as const;
  const measureMs = Math.min(opts.measureMs, opts.quick ? 2000 : 4000);
  let mixed: Phase | { na: string } = { na: 'not measured' };
  let baseline: Phase | { na: string } = { na: 'not measured' };
  let few: Phase | { na: string } = { na: 'not measured' };
  let many: Phase | { na: string } = { na: 'not measured' };
  try {
    const url = await ctx.postgres('live_tideline');
    const server = await ctx.startTideline({ kind: 'postgres', url });
    try {
      const created = await httpCall('POST', `${server.httpUrl}/data`, JSON.stringify({ db: 'db', namespace: 'ns', metric: METRIC, bit: { value: 0, dimensions: {}, tags: { host: 'h0', region: 'r0' } } }));
      if (created.status !== 200) throw new Error(`POST /data → ${created.status} ${created.text.slice(0, 200)}`);
      const run = async (who: string, queries: string[][], hosts: number) => {
        try {
          return await phase(ctx, server, who, queries, hosts, measureMs);
        } catch (error) {
          return { na: ctx.na(error, `live (${who})`) };
        }
      };
      baseline = await run('baseline', [], HOSTS);
      const mixedQueries = Array.from({ length: SOCKETS }, (_, i) => [
        ...Array.from({ length: 5 }, (_, j) => `select * from ${METRIC} where host = 'h${(i * 5 + j) % HOSTS}'`),
        ...Array.from({ length: 5 }, (_, j) => `select count(*) from ${METRIC} where region = 'r${(i + j) % REGIONS}' group by host`),
      ]);
      mixed = await run('mixed', mixedQueries, HOSTS);
      const distinct = (n: number) => Array.from({ length: Math.ceil(n / 100) }, (_, s) => Array.from({ length: Math.min(100, n - s * 100) }, (_, j) => `select * from ${METRIC} where host = 'h${s * 100 + j}'`));
      few = await run('distinct10', distinct(10), 1000);
      many = await run('distinct1000', distinct(1000), 1000);
    } finally {
      await server.stop();
    }
  } catch (error) {
    mixed = { na: ctx.na(error, 'live (tideline)') };
  }

  const m = 'na' in mixed ? undefined : mixed;
  const base = 'na' in baseline ? undefined : baseline;
  const f = 'na' in few ? undefined : few;
  const n = 'na' in many ? undefined : many;
  const mna = 'na' in mixed ? mixed.na : undefined;
  const rows: Row[] = [];
  const label = `live: 1,000 subscriptions (${SOCKETS} sockets × 10, plain WHERE + GROUP BY tag), ${RATE.toLocaleString('en-US')} points/s`;
  // Each point matches the plain select of its host, asked by SOCKETS * 5 / HOSTS sockets.
  const offered = m ? (m.sent * ((SOCKETS * 5) / HOSTS)) / m.seconds : null;
  const pushed = m?.subs ? (m.subs.latency.count ?? 0) / m.seconds : null;
  const pushTarget: Target = { kind: 'ratio>=', value: 0.99 };
  const pushRatio = pushed !== null && offered ? pushed / offered : null;
  rows.push({
    section, scenario: `${label}: plain matches pushed/s`, unit: '/s',
    tideline: pushed, na: mna, peer: 'matches offered (points × sockets whose plain select they match)', peerValue: offered,
    ratio: pushRatio, target: pushTarget, met: evaluate(pushTarget, pushed, pushRatio),
  });
  const beyond = m?.latency ? m.latency.p99 - REFRESH_MS : null;
  const latTarget: Target = { kind: 'abs<=', value: 100, unit: 'ms' };
  rows.push({
    section, scenario: `${label}: insert → push p99 beyond the ${REFRESH_MS} ms refresh period`, unit: 'ms',
    tideline: beyond, tidelineText: m?.latency ? `${beyond!.toFixed(1)} ms (p50 ${m.latency.p50.toFixed(1)}, p99 ${m.latency.p99.toFixed(1)})` : undefined, na: mna,
    peer: '—', peerValue: null, ratio: null, target: latTarget, met: evaluate(latTarget, beyond, null),
  });
  const cpuRatio = m && base ? m.cpuUsPerRecord / base.cpuUsPerRecord : null;
  rows.push({
    section, scenario: `${label}: server CPU per point`, unit: 'µs',
    tideline: m?.cpuUsPerRecord ?? null, tidelineText: m ? `${m.cpuUsPerRecord.toFixed(1)} µs` : undefined, na: mna,
    peer: 'same inserts, no subscription', peerValue: base?.cpuUsPerRecord ?? null, peerText: base ? `${base.cpuUsPerRecord.toFixed(1)} µs` : undefined, peerNa: 'na' in baseline ? baseline.na : undefined,
    ratio: cpuRatio, target: { kind: 'none' }, met: null,
  });
  const idxTarget: Target = { kind: 'ratio<=', value: 2 };
  const idxRatio = n && f ? n.cpuUsPerRecord / f.cpuUsPerRecord : null;
  rows.push({
    section, scenario: `live: 1,000 distinct tag-equality selects vs 10 (${RATE.toLocaleString('en-US')} points/s over 1,000 hosts): server CPU per point`, unit: 'µs',
    tideline: n?.cpuUsPerRecord ?? null, tidelineText: n ? `${n.cpuUsPerRecord.toFixed(1)} µs` : undefined, na: 'na' in many ? many.na : undefined,
    peer: '10 distinct tag-equality selects', peerValue: f?.cpuUsPerRecord ?? null, peerText: f ? `${f.cpuUsPerRecord.toFixed(1)} µs` : undefined, peerNa: 'na' in few ? few.na : undefined,
    ratio: idxRatio, target: idxTarget, met: evaluate(idxTarget, n?.cpuUsPerRecord ?? null, idxRatio),
  });
  return rows;
}
