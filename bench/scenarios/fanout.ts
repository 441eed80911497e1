/**
 * Row 2 — fan-out. One pusher process sends `append` pushes at a fixed total rate (open loop), spread over
 * the rooms; subscriber sockets spread over 2 processes count what arrives. The same load runs against
 * Tideline and against the bare ws peer (no storage). Deliveries/s counts frames received inside the window;
 * latency is push → delivery for pushes sent inside the window (shared monotonic clock).
 */
import { Context } from '../lib/context.js';
import { LoadProcess, withLoad } from '../lib/load.js';
import { createRooms } from '../lib/rooms.js';
import type { ServerHandle } from '../lib/server.js';
import { Histogram, type LatencySummary } from '../lib/stats.js';
import { evaluate, formatNumber, type Row, type Target } from '../lib/table.js';
import type { SubscribersResult } from '../load/fanout-subscribers.js';
import type { PusherResult } from '../load/fanout-pusher.js';

type Case = { id: string; rooms: number; subsPerRoom: number; rate: number; label: string; deliveriesTarget: Target; p99Target: Target };

export const CASES: Case[] = [
  { id: 'a', rooms: 1, subsPerRoom: 1000, rate: 100, label: '1 room × 1000 subs, 100 push/s', deliveriesTarget: { kind: 'ratio>=', value: 0.9 }, p99Target: { kind: 'ratio<=', value: 2 } },
  { id: 'b', rooms: 1, subsPerRoom: 100, rate: 500, label: '1 room × 100 subs, 500 push/s', deliveriesTarget: { kind: 'none' }, p99Target: { kind: 'ratio<=', value: 1.3 } },
  { id: 'c', rooms: 1, subsPerRoom: 100, rate: 1000, label: '1 room × 100 subs, 1000 push/s', deliveriesTarget: { kind: 'ratio>=', value: 0.9 }, p99Target: { kind: 'ratio<=', value: 2 } },
  { id: 'd', rooms: 100, subsPerRoom: 10, rate: 1000, label: '100 rooms × 10 subs, 10 push/s each', deliveriesTarget: { kind: 'none' }, p99Target: { kind: 'none' } },
];

const SUBSCRIBER_PROCS = 2;
const DRAIN_MS = 1000;

type Measured = { deliveriesPerSec: number; offeredPerSec: number; completeness: number; latency: LatencySummary; closed: number } | { na: string };

async function runCase(ctx: Context, server: ServerHandle, c: Case, who: string): Promise<Measured> {
  const { opts } = ctx;
  const rooms = await createRooms(server.httpUrl, c.rooms, 16);
  // Every room's subscribers are split evenly over the subscriber processes.
  const perProc: string[][] = Array.from({ length: SUBSCRIBER_PROCS }, () => []);
  let k = 0;
  for (const room of rooms) for (let s = 0; s < c.subsPerRoom; s++) perProc[k++ % SUBSCRIBER_PROCS].push(room);
  const subs = perProc.map((_, i) => new LoadProcess<SubscribersResult>(`fanout-${c.id}-subs-${i}`, 'bench/load/fanout-subscribers.ts', opts.verbose));
  const pusher = new LoadProcess<PusherResult>(`fanout-${c.id}-pusher`, 'bench/load/fanout-pusher.ts', opts.verbose);
  return withLoad([...subs, pusher], async () => {
    await Promise.all(subs.map((p, i) => p.setup({ wsUrl: server.wsUrl, rooms: perProc[i], drainMs: DRAIN_MS }, 120_000)));
    await pusher.setup({ wsUrl: server.wsUrl, rooms, rate: c.rate, action: 'append' });
    const window = ctx.window();
    for (const p of [...subs, pusher]) p.start(window);
    const timeout = opts.warmupMs + opts.measureMs + DRAIN_MS + 60_000;
    const [pushed, ...received] = await Promise.all([pusher.result(timeout), ...subs.map((p) => p.result(timeout))]);
    const seconds = opts.measureMs / 1000;
    const latency = received.reduce((h, r) => h.merge(r.latency), new Histogram()).summary();
    const delivered = received.reduce((s, r) => s + r.deliveredInWindow, 0);
    const ofWindow = received.reduce((s, r) => s + r.deliveredOfWindowPushes, 0);
    const offered = pushed.sentInWindow * c.subsPerRoom;
    const closed = received.reduce((s, r) => s + r.closed, 0) + pushed.closed;
    const errors = received.reduce((s, r) => s + r.errors, 0) + pushed.errors;
    if (closed) ctx.note(`fan-out (${c.id}, ${who}): the server closed ${closed} of ${c.rooms * c.subsPerRoom + c.rooms} sockets during the run`);
    if (errors) ctx.note(`fan-out (${c.id}, ${who}): ${errors} error frames, first: ${[pushed, ...received].find((r) => r.firstError)?.firstError}`);
    const m = { deliveriesPerSec: delivered / seconds, offeredPerSec: offered / seconds, completeness: offered ? ofWindow / offered : 0, latency, closed };
    ctx.log(
      `${who} (${c.id}): ${Math.round(m.deliveriesPerSec)} deliveries/s of ${Math.round(m.offeredPerSec)} offered, ` +
        `${(m.completeness * 100).toFixed(1)}% delivered, p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms${closed ? `, ${closed} sockets closed` : ''}`,
    );
    if (delivered === 0) return { na: 'nothing delivered' };
    return m;
  });
}

export async function fanout(ctx: Context): Promise<Row[]> {
  const cases = CASES.filter((c) => ctx.opts.cases.includes(c.id));
  const results: Record<string, { tideline: Measured; bare: Measured }> = {};
  for (const c of cases) results[c.id] = { tideline: { na: 'not measured' }, bare: { na: 'not measured' } };

  // Both servers stay up and the cases alternate between them (tideline, then bare, per case), so that
  // background load on the machine drifts over both alike.
  const servers: Partial<Record<'tideline' | 'bare', ServerHandle>> = {};
  try {
    for (const who of ['tideline', 'bare'] as const) {
      try {
        servers[who] = who === 'tideline' ? await ctx.startTideline({ kind: 'postgres', url: await ctx.postgres('fanout') }) : await ctx.startBare();
      } catch (error) {
        const na = ctx.na(error, `fan-out (${who})`);
        for (const c of cases) results[c.id][who] = { na };
      }
    }
    for (const c of cases) {
      for (const who of ['tideline', 'bare'] as const) {
        const server = servers[who];
        if (!server) continue;
        try {
          results[c.id][who] = await runCase(ctx, server, c, who);
        } catch (error) {
          results[c.id][who] = { na: ctx.na(error, `fan-out (${c.id}, ${who})`) };
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  ctx.details.fanout = Object.fromEntries(cases.map((c) => [c.id, { case: c, ...results[c.id] }]));

  const rows: Row[] = [];
  for (const c of cases) {
    const t = results[c.id].tideline;
    const b = results[c.id].bare;
    const tv = 'na' in t ? null : t.deliveriesPerSec;
    const bv = 'na' in b ? null : b.deliveriesPerSec;
    const ratio = tv !== null && bv ? tv / bv : null;
    rows.push({
      section: 'fanout', scenario: `fan-out (${c.id}) ${c.label}: deliveries/s`, unit: '/s',
      tideline: tv, na: 'na' in t ? t.na : undefined, peer: 'bare ws (no storage)', peerValue: bv, peerNa: 'na' in b ? b.na : undefined,
      ratio, target: c.deliveriesTarget, met: evaluate(c.deliveriesTarget, tv, ratio),
    });
    const tp = 'na' in t ? null : t.latency.p99;
    const bp = 'na' in b ? null : b.latency.p99;
    const pratio = tp !== null && bp ? tp / bp : null;
    const ms = (v: number) => (v < 100 ? v.toFixed(2) : formatNumber(v, ''));
    const both = (m: Measured) => ('na' in m ? undefined : `${ms(m.latency.p50)} / ${ms(m.latency.p99)} ms`);
    rows.push({
      section: 'fanout', scenario: `fan-out (${c.id}) latency p50 / p99`, unit: 'ms',
      tideline: tp, tidelineText: both(t), na: 'na' in t ? t.na : undefined, peer: 'bare ws (no storage)', peerValue: bp, peerText: both(b), peerNa: 'na' in b ? b.na : undefined,
      ratio: pratio, target: c.p99Target, met: evaluate(c.p99Target, tp, pratio),
    });
  }
  return rows;
}
