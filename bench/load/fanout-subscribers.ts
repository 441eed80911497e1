/**
 * Fan-out subscribers: one socket per entry of `rooms` (a room id may repeat). Counts push frames that
 * carry a send timestamp `t`:
 *  - deliveries by receive time inside the window → deliveries/s;
 *  - for pushes sent inside the window and received before the drain ends → latency histogram
 *    and completeness (compared with what the pusher sent).
 */
import { nowMs, sleepUntil } from '../lib/clock.js';
import { runLoadChild, type Window } from '../lib/load-protocol.js';
import { contains, numberAt } from '../lib/lean-ws.js';
import { closeAll, openSockets, socketUrl } from '../lib/rooms.js';
import { Histogram, type HistogramJson } from '../lib/stats.js';

export type SubscribersConfig = { wsUrl: string; rooms: string[]; drainMs: number };
export type SubscribersResult = {
  sockets: number;
  closed: number;
  errors: number;
  firstError?: string;
  deliveredInWindow: number;
  deliveredOfWindowPushes: number;
  latency: HistogramJson;
};

runLoadChild<SubscribersConfig, SubscribersResult>(async (cfg) => {
  const sockets = await openSockets(cfg.rooms.map((room) => socketUrl(cfg.wsUrl, room)), 100);
  let window: Window | undefined;
  let deliveredInWindow = 0;
  let deliveredOfWindowPushes = 0;
  let closed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latency = new Histogram();

  const onFrame = (buf: Buffer, start: number, end: number) => {
    if (!window) return;
    const now = nowMs();
    if (!contains(buf, start, end, '"push"')) {
      if (contains(buf, start, end, '"error"')) {
        errors++;
        firstError ??= buf.toString('utf8', start, Math.min(end, start + 300));
      }
      return;
    }
    const t = numberAt(buf, start, end, 't');
    if (Number.isNaN(t)) return;
    if (now >= window.startMs && now < window.endMs) deliveredInWindow++;
    if (t >= window.startMs && t < window.endMs) {
      deliveredOfWindowPushes++;
      latency.recordMs(now - t);
    }
  };
  for (const ws of sockets) {
    ws.onFrame = onFrame;
    ws.onClose = () => closed++;
  }

  return {
    info: { sockets: sockets.length },
    async run(w) {
      window = w;
      await sleepUntil(w.endMs + cfg.drainMs);
      window = undefined;
      return { sockets: sockets.length, closed, errors, firstError, deliveredInWindow, deliveredOfWindowPushes, latency: latency.toJSON() };
    },
    close: () => closeAll(sockets),
  };
});
