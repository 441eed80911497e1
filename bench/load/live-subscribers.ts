/**
 * Live-query subscribers: `queries.length` connections to `/ws-stream?refresh_period=…&retention_size=…`,
 * socket i subscribing to every query of `queries[i]` (NSDb SQL over `db.ns.<metric>`) and waiting for
 * each answer. Counts the records of pushes received inside the window (matches pushed/s); for pushed
 * points carrying a send time (dimension `t`, plain selects) sent inside the window, insert → push latency.
 */
import { nowMs, sleepUntil } from '../lib/clock.js';
import { runLoadChild, type Window } from '../lib/load-protocol.js';
import { LeanSocket } from '../lib/lean-ws.js';
import { Histogram, type HistogramJson } from '../lib/stats.js';

export type LiveSubscribersConfig = { wsUrl: string; metric: string; queries: string[][]; drainMs: number };
export type LiveSubscribersResult = {
  sockets: number;
  subscriptions: number;
  quids: number;
  closed: number;
  errors: number;
  firstError?: string;
  pushesInWindow: number;
  recordsInWindow: number;
  dropped: number;
  latency: HistogramJson;
};

runLoadChild<LiveSubscribersConfig, LiveSubscribersResult>(async (cfg) => {
  const sockets = await Promise.all(cfg.queries.map(() => LeanSocket.open(cfg.wsUrl)));
  let window: Window | undefined;
  let pushesInWindow = 0;
  let recordsInWindow = 0;
  let dropped = 0;
  let closed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const quids = new Set<string>();
  const latency = new Histogram();

  await Promise.all(
    sockets.map(
      (ws, i) =>
        new Promise<void>((resolve, reject) => {
          let left = cfg.queries[i].length;
          const timer = setTimeout(() => reject(new Error(`socket ${i}: ${left} answers missing after 30 s`)), 30_000);
          ws.onFrame = (buf, start, end) => {
            const m = JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>;
            if (m.queryString === undefined) return;
            if (typeof m.quid !== 'string') {
              clearTimeout(timer);
              return reject(new Error(`socket ${i}: ${JSON.stringify(m).slice(0, 300)}`));
            }
            quids.add(m.quid);
            if (--left === 0) {
              clearTimeout(timer);
              resolve();
            }
          };
          for (const queryString of cfg.queries[i]) ws.send(JSON.stringify({ db: 'db', namespace: 'ns', metric: cfg.metric, queryString }));
        }),
    ),
  );

  const onFrame = (buf: Buffer, start: number, end: number) => {
    if (!window) return;
    const now = nowMs();
    const m = JSON.parse(buf.toString('utf8', start, end)) as { records?: { dimensions?: { t?: number } }[]; position?: number; dropped?: number; reason?: string; error?: string };
    if (m.reason || m.error) {
      errors++;
      firstError ??= JSON.stringify(m).slice(0, 300);
      return;
    }
    if (m.position === undefined || !m.records) return;
    if (now >= window.startMs && now < window.endMs) {
      pushesInWindow++;
      recordsInWindow += m.records.length;
      dropped += m.dropped ?? 0;
    }
    for (const r of m.records) {
      const t = r.dimensions?.t;
      if (typeof t === 'number' && t >= window.startMs && t < window.endMs) latency.recordMs(now - t);
    }
  };
  for (const ws of sockets) {
    ws.onFrame = onFrame;
    ws.onClose = () => closed++;
  }

  return {
    info: { sockets: sockets.length, quids: quids.size },
    async run(w) {
      window = w;
      await sleepUntil(w.endMs + cfg.drainMs);
      return {
        sockets: sockets.length,
        subscriptions: cfg.queries.reduce((n, q) => n + q.length, 0),
        quids: quids.size,
        closed,
        errors,
        firstError,
        pushesInWindow,
        recordsInWindow,
        dropped,
        latency: latency.toJSON(),
      };
    },
    async close() {
      await Promise.all(sockets.map((s) => s.close().catch(() => undefined)));
    },
  };
});
