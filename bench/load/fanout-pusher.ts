/**
 * Open-loop pusher: one socket per room, `rate` pushes per second in total, spread round-robin over the
 * rooms, each carrying its send time `t` (shared monotonic clock). Pushes from the start message until the
 * end of the window, whatever the server does (the offered load is the same for every server).
 */
import { nowMs, sleep } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { contains } from '../lib/lean-ws.js';
import { closeAll, openSockets, pushFrame, socketUrl } from '../lib/rooms.js';

export type PusherConfig = { wsUrl: string; rooms: string[]; rate: number; action: 'append' | 'relay' };
export type PusherResult = { sent: number; sentInWindow: number; maxBufferedBytes: number; closed: number; errors: number; firstError?: string };

runLoadChild<PusherConfig, PusherResult>(async (cfg) => {
  const sockets = await openSockets(cfg.rooms.map((room) => socketUrl(cfg.wsUrl, room)), 50);
  let closed = 0;
  let errors = 0;
  let firstError: string | undefined;
  for (const ws of sockets) {
    ws.onClose = () => closed++;
    // The pusher is a room member too: its copies of the pushes are ignored, refusals counted.
    ws.onFrame = (buf, start, end) => {
      if (contains(buf, start, end, '"push"') || !contains(buf, start, end, '"error"')) return;
      errors++;
      firstError ??= buf.toString('utf8', start, Math.min(end, start + 300));
    };
  }
  return {
    info: { sockets: sockets.length },
    async run(w) {
      const t0 = nowMs();
      let sent = 0;
      let sentInWindow = 0;
      let maxBufferedBytes = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const now = nowMs();
          if (now >= w.endMs) {
            clearInterval(timer);
            return resolve();
          }
          const due = Math.floor(((now - t0) / 1000) * cfg.rate);
          while (sent < due) {
            const ws = sockets[sent % sockets.length];
            const t = nowMs();
            ws.send(pushFrame({ t, n: sent }, cfg.action));
            if (t >= w.startMs && t < w.endMs) sentInWindow++;
            sent++;
            if (ws.bufferedBytes > maxBufferedBytes) maxBufferedBytes = ws.bufferedBytes;
          }
        }, 1);
      });
      await sleep(50);
      return { sent, sentInWindow, maxBufferedBytes, closed, errors, firstError };
    },
    close: () => closeAll(sockets),
  };
});
