/**
 * Idle connections for the memory row: creates `rooms` rooms (POST /new), opens `connsPerRoom` sockets in
 * each, makes every socket answer one ping (so the server has fully set it up), then stays idle until told
 * to stop. Reports how many sockets are open; failures are counted, not fatal.
 */
import { contains, type LeanSocket } from '../lib/lean-ws.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { closeAll, createRooms, openSocket, parallel, socketUrl } from '../lib/rooms.js';

export type IdleConfig = { httpUrl: string; wsUrl: string; rooms: number; connsPerRoom: number; concurrency: number };
export type IdleInfo = { open: number; failed: number; pongs: number; firstError?: string };

function pingOnce(ws: LeanSocket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.onFrame = () => undefined;
      resolve(false);
    }, timeoutMs);
    ws.onFrame = (buf, start, end) => {
      if (!contains(buf, start, end, '"pong"')) return;
      clearTimeout(timer);
      ws.onFrame = () => undefined;
      resolve(true);
    };
    ws.send(JSON.stringify({ type: 'ping', nonce: 1 }));
  });
}

runLoadChild<IdleConfig, IdleInfo>(async (cfg) => {
  const rooms = await createRooms(cfg.httpUrl, cfg.rooms, 16);
  const urls = rooms.flatMap((room) => Array.from({ length: cfg.connsPerRoom }, () => socketUrl(cfg.wsUrl, room)));
  const sockets: (LeanSocket | undefined)[] = new Array(urls.length);
  let failed = 0;
  let pongs = 0;
  let firstError: string | undefined;
  await parallel(urls.length, cfg.concurrency, async (i) => {
    try {
      const ws = await openSocket(urls[i], 30_000);
      sockets[i] = ws;
      if (await pingOnce(ws, 15_000)) pongs++;
    } catch (error) {
      failed++;
      firstError ??= (error as Error).message;
    }
  });
  const info = (): IdleInfo => ({ open: sockets.filter((s) => s && !s.closed).length, failed, pongs, firstError });
  return {
    info: info(),
    run: async () => info(),
    close: () => closeAll(sockets),
  };
});
