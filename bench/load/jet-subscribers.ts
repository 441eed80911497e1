/**
 * JSONJet subscribers: `sockets` connections to `/ws`, each subscribed to `stream` (from "latest"). Counts
 * `data` frames that carry a send timestamp `t`:
 *  - by receive time inside the window → deliveries/s;
 *  - for records sent inside the window and received before the drain ends → insert → deliver latency.
 */
import { nowMs, sleepUntil } from '../lib/clock.js';
import { runLoadChild, type Window } from '../lib/load-protocol.js';
import { contains, LeanSocket, numberAt } from '../lib/lean-ws.js';
import { Histogram, type HistogramJson } from '../lib/stats.js';

export type JetSubscribersConfig = { wsUrl: string; stream: string; sockets: number; drainMs: number };
export type JetSubscribersResult = {
  sockets: number;
  closed: number;
  errors: number;
  firstError?: string;
  deliveredInWindow: number;
  deliveredOfWindowRecords: number;
  latency: HistogramJson;
};

runLoadChild<JetSubscribersConfig, JetSubscribersResult>(async (cfg) => {
  const sockets = await Promise.all(Array.from({ length: cfg.sockets }, () => LeanSocket.open(cfg.wsUrl)));
  let window: Window | undefined;
  let deliveredInWindow = 0;
  let deliveredOfWindowRecords = 0;
  let closed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latency = new Histogram();

  // Subscribe every socket and wait for its `subscribed` answer.
  await Promise.all(
    sockets.map(
      (ws, i) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`subscriber ${i}: no 'subscribed' within 15 s`)), 15_000);
          ws.onFrame = (buf, start, end) => {
            if (contains(buf, start, end, '"subscribed"')) {
              clearTimeout(timer);
              resolve();
            } else if (contains(buf, start, end, '"error"')) {
              clearTimeout(timer);
              reject(new Error(`subscriber ${i}: ${buf.toString('utf8', start, Math.min(end, start + 300))}`));
            }
          };
          ws.send(JSON.stringify({ type: 'subscribe', streamName: cfg.stream, requestId: `sub-${i}` }));
        }),
    ),
  );

  const onFrame = (buf: Buffer, start: number, end: number) => {
    if (!window) return;
    const now = nowMs();
    if (!contains(buf, start, end, '"type":"data"')) {
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
      deliveredOfWindowRecords++;
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
      return { sockets: sockets.length, closed, errors, firstError, deliveredInWindow, deliveredOfWindowRecords, latency: latency.toJSON() };
    },
    close: async () => {
      await Promise.all(sockets.map((s) => s.close()));
    },
  };
});
