/**
 * Live-query writers: one JSONJet `/ws` connection inserting metric points into the stream `db.ns.<metric>`
 * (the NSDb dialect's metric; any dialect that writes the stream feeds its live queries), paced open loop at
 * `recordsPerSec` in batches of `batch`. Each point carries its send time (shared monotonic clock) in the
 * dimension `t`, and a tag `host` (`h0`…`h{hosts-1}`, round robin) with `region` = `r{host % regions}`.
 */
import { nowMs, sleep } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { contains, LeanSocket } from '../lib/lean-ws.js';

export type LiveWritersConfig = { wsUrl: string; target: string; recordsPerSec: number; batch: number; hosts: number; regions: number };
export type LiveWritersResult = { sentInWindow: number; acked: number; failed: number; firstError?: string };

runLoadChild<LiveWritersConfig, LiveWritersResult>(async (cfg) => {
  const ws = await LeanSocket.open(cfg.wsUrl);
  let running = true;
  let acked = 0;
  let failed = 0;
  let firstError: string | undefined;
  ws.onFrame = (buf, start, end) => {
    if (!contains(buf, start, end, '"insert_response"')) return;
    if (contains(buf, start, end, '"success":true')) acked++;
    else {
      failed++;
      firstError ??= buf.toString('utf8', start, Math.min(end, start + 300));
    }
  };
  let seq = 0;
  return {
    async run(window) {
      let sentInWindow = 0;
      const intervalMs = (1000 * cfg.batch) / cfg.recordsPerSec;
      let next = nowMs();
      while (running && nowMs() < window.endMs) {
        const t = nowMs();
        const data = Array.from({ length: cfg.batch }, () => {
          const host = seq++ % cfg.hosts;
          return { timestamp: Date.now(), value: 1, dimensions: { t }, tags: { host: `h${host}`, region: `r${host % cfg.regions}` } };
        });
        ws.send(JSON.stringify({ type: 'insert', target: cfg.target, data }));
        if (t >= window.startMs) sentInWindow += cfg.batch;
        next += intervalMs;
        await sleep(next - nowMs());
      }
      return { sentInWindow, acked, failed, firstError };
    },
    async close() {
      running = false;
      await ws.close();
    },
  };
});
