/**
 * JSONJet insert writers: `sockets` connections to `/ws`, each sending `insert` frames of `batch` records
 * into one stream. Every record carries the batch's send time `t` (shared monotonic clock) for the
 * subscribers' insert → deliver latency.
 *  - closed loop (`inFlight`): each socket keeps `inFlight` inserts outstanding, sending the next when one is
 *    answered (Tideline answers once the batch is durable);
 *  - paced (`recordsPerSec`): open loop at a fixed total rate, round-robin over the sockets, whatever the
 *    server answers (used to offer a peer exactly the frames Tideline took).
 * Counts records acknowledged (`insert_response` with success) inside the window, and ack latency.
 */
import { nowMs, sleep } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { contains, LeanSocket, numberAt } from '../lib/lean-ws.js';
import { Histogram, type HistogramJson } from '../lib/stats.js';

export type JetWritersConfig = { wsUrl: string; stream: string; sockets: number; batch: number; inFlight?: number; recordsPerSec?: number };
export type JetWritersResult = {
  sentBatches: number;
  sentRecordsInWindow: number;
  ackedRecords: number;
  ackedInWindow: number;
  failed: number;
  firstError?: string;
  closed: number;
  ackLatency: HistogramJson;
  maxBufferedBytes: number;
};

runLoadChild<JetWritersConfig, JetWritersResult>(async (cfg) => {
  const sockets = await Promise.all(Array.from({ length: cfg.sockets }, () => LeanSocket.open(cfg.wsUrl)));
  const sentAt = new Map<number, number>();
  let nextId = 1;
  let running = false;
  let window = { startMs: Infinity, endMs: -Infinity };
  let sentBatches = 0;
  let sentRecordsInWindow = 0;
  let ackedRecords = 0;
  let ackedInWindow = 0;
  let failed = 0;
  let firstError: string | undefined;
  let closed = 0;
  let maxBufferedBytes = 0;
  const ackLatency = new Histogram();

  const sendBatch = (ws: LeanSocket, w: number) => {
    const t = nowMs();
    const id = nextId++;
    const n0 = sentBatches * cfg.batch;
    let data = '';
    for (let i = 0; i < cfg.batch; i++) {
      const n = n0 + i;
      data += `${i ? ',' : ''}{"t":${t},"w":${w},"n":${n},"k":"sensor-${n % 16}","v":${(n % 97) + 0.5}}`;
    }
    sentAt.set(id, t);
    ws.send(`{"type":"insert","target":${JSON.stringify(cfg.stream)},"data":[${data}],"requestId":${id}}`);
    sentBatches++;
    if (t >= window.startMs && t < window.endMs) sentRecordsInWindow += cfg.batch;
    if (ws.bufferedBytes > maxBufferedBytes) maxBufferedBytes = ws.bufferedBytes;
  };

  sockets.forEach((ws, w) => {
    ws.onClose = () => closed++;
    ws.onFrame = (buf, start, end) => {
      if (!contains(buf, start, end, '"insert_response"')) {
        if (contains(buf, start, end, '"error"')) {
          failed++;
          firstError ??= buf.toString('utf8', start, Math.min(end, start + 300));
        }
        return;
      }
      const now = nowMs();
      const id = numberAt(buf, start, end, 'requestId');
      const t = sentAt.get(id);
      sentAt.delete(id);
      if (!contains(buf, start, end, '"success":true')) {
        failed++;
        firstError ??= buf.toString('utf8', start, Math.min(end, start + 300));
      } else {
        const count = numberAt(buf, start, end, 'count');
        ackedRecords += count;
        if (now >= window.startMs && now < window.endMs) {
          ackedInWindow += count;
          if (t !== undefined) ackLatency.recordMs(now - t);
        }
      }
      // Closed loop: the answered insert makes room for the next one on the same socket.
      if (running && cfg.inFlight && now < window.endMs) sendBatch(ws, w);
    };
  });

  return {
    info: { sockets: sockets.length },
    async run(w) {
      window = w;
      running = true;
      if (cfg.inFlight) {
        sockets.forEach((ws, i) => {
          for (let k = 0; k < cfg.inFlight!; k++) sendBatch(ws, i);
        });
        await sleep(w.endMs - nowMs());
      } else {
        const rate = (cfg.recordsPerSec ?? 1000) / cfg.batch; // batches per second
        const t0 = nowMs();
        let sent = 0;
        await new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            const now = nowMs();
            if (now >= w.endMs) {
              clearInterval(timer);
              return resolve();
            }
            const due = Math.floor(((now - t0) / 1000) * rate);
            while (sent < due) {
              const i = sent++ % sockets.length;
              sendBatch(sockets[i], i);
            }
          }, 1);
        });
      }
      running = false;
      // Let the last inserts be answered (they do not count: their acks fall after the window).
      const deadline = nowMs() + 3000;
      while (sentAt.size && nowMs() < deadline) await sleep(20);
      return { sentBatches, sentRecordsInWindow, ackedRecords, ackedInWindow, failed, firstError, closed, ackLatency: ackLatency.toJSON(), maxBufferedBytes };
    },
    close: async () => {
      await Promise.all(sockets.map((s) => s.close()));
    },
  };
});
