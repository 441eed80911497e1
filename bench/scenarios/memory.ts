/**
 * Row 3 — memory. (1) Server RSS before and after opening N idle WebSocket connections (rooms × 10),
 * spread over load processes: KB per connection. (2) Server RSS after M rooms were each created
 * (POST /new) and written once (POST /room/<id>/send, append), then left idle. Both against Tideline
 * (PostgreSQL) and the bare ws peer.
 */
import { readFileSync } from 'node:fs';
import { sleep } from '../lib/clock.js';
import { Context } from '../lib/context.js';
import { LoadProcess, withLoad } from '../lib/load.js';
import { settledRssKb } from '../lib/proc.js';
import type { ServerHandle } from '../lib/server.js';
import { evaluate, formatNumber, type Row } from '../lib/table.js';
import type { IdleInfo } from '../load/idle-conns.js';
import type { RoomWriterResult } from '../load/room-writer.js';

const CONNS_PER_ROOM = 10;
const CONNS_PER_PROC = 5000;
const WRITER_PROCS = 2;

/** Soft limit on open files of this process (children inherit it). */
function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

type IdleFigure = { kbPerConn: number; open: number; beforeKb: number; afterKb: number } | { na: string };
type RoomsFigure = { rssMb: number; kbPerRoom: number; written: number; writesPerSec: number; beforeKb: number; afterKb: number } | { na: string };

async function idle(ctx: Context, server: ServerHandle, connections: number, who: string): Promise<IdleFigure> {
  const { opts } = ctx;
  // Warm the code paths once (a room, a few sockets, a ping) so they are not counted per connection.
  const warm = new LoadProcess<IdleInfo>(`${who}-idle-warmup`, 'bench/load/idle-conns.ts', opts.verbose);
  await withLoad([warm], () => warm.setup({ httpUrl: server.httpUrl, wsUrl: server.wsUrl, rooms: 2, connsPerRoom: CONNS_PER_ROOM, concurrency: 20 }));
  await sleep(1000);
  const beforeKb = await settledRssKb(server.pid);
  const procs = Math.max(2, Math.ceil(connections / CONNS_PER_PROC));
  const rooms = Math.ceil(connections / CONNS_PER_ROOM);
  const roomsPer = Array.from({ length: procs }, (_, i) => Math.floor(rooms / procs) + (i < rooms % procs ? 1 : 0));
  const loads = roomsPer.map((_, i) => new LoadProcess<IdleInfo>(`${who}-idle-${i}`, 'bench/load/idle-conns.ts', opts.verbose));
  return withLoad(loads, async () => {
    const infos = await Promise.all(
      loads.map((p, i) => p.setup<IdleInfo>({ httpUrl: server.httpUrl, wsUrl: server.wsUrl, rooms: roomsPer[i], connsPerRoom: CONNS_PER_ROOM, concurrency: 200 }, 300_000)),
    );
    await sleep(2000);
    const afterKb = await settledRssKb(server.pid, 5, 400);
    const now = await Promise.all(loads.map((p) => { p.start(ctx.window(0, 0)); return p.result(30_000); }));
    const open = now.reduce((s, r) => s + r.open, 0);
    const failed = infos.reduce((s, r) => s + r.failed, 0);
    if (failed) ctx.note(`memory (${who}): ${failed} of ${connections} connections failed (${infos.find((r) => r.firstError)?.firstError})`);
    ctx.log(`${who}: ${open} idle sockets open, RSS ${Math.round(beforeKb / 1024)} → ${Math.round(afterKb / 1024)} MB`);
    if (!open) return { na: 'no connection opened' };
    return { kbPerConn: (afterKb - beforeKb) / open, open, beforeKb, afterKb };
  });
}

async function manyRooms(ctx: Context, server: ServerHandle, rooms: number, who: string, maxMs: number): Promise<RoomsFigure> {
  const { opts } = ctx;
  await sleep(500);
  const beforeKb = await settledRssKb(server.pid);
  const per = Array.from({ length: WRITER_PROCS }, (_, i) => Math.floor(rooms / WRITER_PROCS) + (i < rooms % WRITER_PROCS ? 1 : 0));
  const loads = per.map((_, i) => new LoadProcess<RoomWriterResult>(`${who}-rooms-${i}`, 'bench/load/room-writer.ts', opts.verbose));
  const results = await withLoad(loads, async () => {
    await Promise.all(loads.map((p, i) => p.setup({ httpUrl: server.httpUrl, rooms: per[i], concurrency: 32, maxMs })));
    const window = ctx.window(0, 0);
    for (const p of loads) p.start(window);
    return Promise.all(loads.map((p) => p.result(maxMs + 120_000)));
  });
  const written = results.reduce((s, r) => s + r.written, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  const elapsed = Math.max(...results.map((r) => r.elapsedMs));
  if (failed) ctx.note(`memory (${who}): ${failed} of ${rooms} room writes failed (${results.find((r) => r.firstError)?.firstError})`);
  if (results.some((r) => r.stoppedEarly)) ctx.note(`memory (${who}): room writing stopped after ${Math.round(maxMs / 1000)} s with ${written} of ${rooms} rooms written`);
  await sleep(2000);
  const afterKb = await settledRssKb(server.pid, 5, 400);
  ctx.log(`${who}: ${written} rooms written in ${(elapsed / 1000).toFixed(1)} s, RSS ${Math.round(beforeKb / 1024)} → ${Math.round(afterKb / 1024)} MB`);
  if (!written) return { na: 'no room written' };
  return { rssMb: afterKb / 1024, kbPerRoom: (afterKb - beforeKb) / written, written, writesPerSec: written / (elapsed / 1000), beforeKb, afterKb };
}

export async function memory(ctx: Context): Promise<Row[]> {
  const { opts } = ctx;
  let connections = opts.idleConnections;
  const limit = openFileLimit();
  if (limit < connections + 500) {
    const reduced = Math.max(100, Math.floor((limit - 500) / 100) * 100);
    ctx.note(`memory: open-file limit (ulimit -n) is ${limit}; measuring ${reduced} idle connections instead of ${connections} (raise it with ulimit -n)`);
    connections = reduced;
  }

  const measure = async <F>(who: 'tideline' | 'bare', purpose: string, work: (server: ServerHandle) => Promise<F>): Promise<F | { na: string }> => {
    try {
      const server = who === 'tideline' ? await ctx.startTideline({ kind: 'postgres', url: await ctx.postgres(purpose) }) : await ctx.startBare();
      try {
        return await work(server);
      } finally {
        await server.stop();
      }
    } catch (error) {
      return { na: ctx.na(error, `memory (${purpose}, ${who})`) };
    }
  };

  ctx.log(`idle connections: ${connections} over ${Math.ceil(connections / CONNS_PER_ROOM)} rooms`);
  const idleT = await measure('tideline', 'memory_idle', (s) => idle(ctx, s, connections, 'tideline'));
  const idleB = await measure('bare', 'memory_idle', (s) => idle(ctx, s, connections, 'bare'));
  ctx.log(`rooms written once: ${opts.writtenRooms}`);
  const maxMs = (opts.quick ? 60 : 150) * 1000;
  const roomsT = await measure('tideline', 'memory_rooms', (s) => manyRooms(ctx, s, opts.writtenRooms, 'tideline', maxMs));
  // The peer gets exactly as many rooms as Tideline managed to write (if it was cut short).
  const peerRooms = 'na' in roomsT ? opts.writtenRooms : roomsT.written;
  const roomsB = await measure('bare', 'memory_rooms', (s) => manyRooms(ctx, s, peerRooms, 'bare', maxMs));
  ctx.details.memory = { connections, idle: { tideline: idleT, bare: idleB }, rooms: { count: opts.writtenRooms, tideline: roomsT, bare: roomsB } };

  const iv = 'na' in idleT ? null : idleT.kbPerConn;
  const ib = 'na' in idleB ? null : idleB.kbPerConn;
  const iratio = iv !== null && ib ? iv / ib : null;
  const idleTarget = { kind: 'abs<=' as const, value: 20, unit: 'KB' };
  const rv = 'na' in roomsT ? null : roomsT.rssMb;
  const rb = 'na' in roomsB ? null : roomsB.rssMb;
  const roomsText = (f: RoomsFigure) =>
    'na' in f ? undefined : `${formatNumber(f.rssMb, 'MB')} (${f.kbPerRoom >= 0 ? '+' : ''}${formatNumber(f.kbPerRoom, 'KB')}/room${f.written !== opts.writtenRooms ? `, ${f.written.toLocaleString('en-US')} rooms` : ''})`;
  return [
    {
      section: 'memory', scenario: `memory: KB per idle WebSocket (${connections.toLocaleString('en-US')} conns, rooms × ${CONNS_PER_ROOM})`, unit: 'KB',
      tideline: iv, na: 'na' in idleT ? idleT.na : undefined, peer: 'bare ws (no storage)', peerValue: ib, peerNa: 'na' in idleB ? idleB.na : undefined,
      ratio: iratio, target: idleTarget, met: evaluate(idleTarget, iv, iratio),
    },
    {
      section: 'memory', scenario: `memory: RSS after ${opts.writtenRooms.toLocaleString('en-US')} rooms written once, idle`, unit: 'MB',
      tideline: rv, tidelineText: roomsText(roomsT), na: 'na' in roomsT ? roomsT.na : undefined, peer: 'bare ws (no storage)', peerValue: rb, peerText: roomsText(roomsB),
      peerNa: 'na' in roomsB ? roomsB.na : undefined, ratio: rv !== null && rb ? rv / rb : null, target: { kind: 'none' }, met: null,
    },
  ];
}
