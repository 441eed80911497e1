/**
 * Durable-push load: `connsPerRoom` sockets in each given room, each keeping `inFlight` append pushes
 * outstanding. A push counts when its broadcast comes back to the sender (Tideline sends append
 * broadcasts only after the commit), and only if that happens inside the measurement window.
 */
import { nowMs, sleep, sleepUntil } from '../lib/clock.js';
import { contains, numberAt } from '../lib/lean-ws.js';
import { runLoadChild, type Window } from '../lib/load-protocol.js';
import { closeAll, openSockets, pushFrame, socketUrl } from '../lib/rooms.js';
import { Histogram, type HistogramJson } from '../lib/stats.js';

export type DurablePushersConfig = { wsUrl: string; rooms: string[]; connsPerRoom: number; inFlight: number; procIndex: number };
export type DurablePushersResult = { acked: number; sent: number; latency: HistogramJson; closed: number; sockets: number; errors: number; firstError?: string };

runLoadChild<DurablePushersConfig, DurablePushersResult>(async (cfg) => {
  const urls = cfg.rooms.flatMap((room) => Array.from({ length: cfg.connsPerRoom }, () => socketUrl(cfg.wsUrl, room)));
  const sockets = await openSockets(urls, 100);
  let window: Window | undefined;
  let acked = 0;
  let sent = 0;
  let closed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latency = new Histogram();

  const starters = sockets.map((ws, i) => {
    const me = cfg.procIndex * 1_000_000 + i;
    let n = 0;
    const push = () => {
      sent++;
      ws.send(pushFrame({ t: nowMs(), c: me, n: n++ }));
    };
    ws.onClose = () => closed++;
    ws.onFrame = (buf, start, end) => {
      if (!window) return;
      if (contains(buf, start, end, '"error"')) {
        // A refused push: count it and keep the window full.
        errors++;
        firstError ??= buf.toString('utf8', start, Math.min(end, start + 300));
        if (nowMs() < window.endMs) push();
        return;
      }
      if (!contains(buf, start, end, '"push"') || numberAt(buf, start, end, 'c') !== me) return; // others' pushes, stream_size…
      const now = nowMs();
      if (now >= window.startMs && now < window.endMs) {
        acked++;
        latency.recordMs(now - numberAt(buf, start, end, 't'));
      }
      if (now < window.endMs) push();
    };
    return () => {
      for (let k = 0; k < cfg.inFlight; k++) push();
    };
  });

  return {
    info: { sockets: sockets.length },
    async run(w) {
      window = w;
      for (const start of starters) start();
      await sleepUntil(w.endMs);
      await sleep(500); // let outstanding acks land (they are outside the window and not counted)
      return { acked, sent, latency: latency.toJSON(), closed, sockets: sockets.length, errors, firstError };
    },
    close: () => closeAll(sockets),
  };
});
