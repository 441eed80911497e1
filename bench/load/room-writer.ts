/**
 * Many-rooms load for the memory row: creates `rooms` rooms with POST /new and writes each once with
 * POST /room/<id>/send (an append), `concurrency` rooms at a time, then leaves them idle. Stops early
 * (reporting how many it wrote) when `maxMs` has passed, so a slow server cannot stall the bench.
 */
import { nowMs } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { createRoom, httpCall, parallel } from '../lib/rooms.js';

export type RoomWriterConfig = { httpUrl: string; rooms: number; concurrency: number; maxMs: number };
export type RoomWriterResult = { written: number; failed: number; elapsedMs: number; stoppedEarly: boolean; firstError?: string };

const body = JSON.stringify({ type: 'push', key: 'k', value: 1, action: { type: 'append' } });

runLoadChild<RoomWriterConfig, RoomWriterResult>(async (cfg) => ({
  async run() {
    const t0 = nowMs();
    let written = 0;
    let failed = 0;
    let firstError: string | undefined;
    let stoppedEarly = false;
    const deadline = t0 + cfg.maxMs;
    await parallel(cfg.rooms, cfg.concurrency, async () => {
      if (nowMs() > deadline) {
        stoppedEarly = true;
        return;
      }
      try {
        const room = await createRoom(cfg.httpUrl, 30_000);
        const res = await httpCall('POST', `${cfg.httpUrl}/room/${room}/send`, body, 30_000);
        if (res.status < 200 || res.status >= 300) throw new Error(`POST /room/<id>/send → ${res.status} ${res.text.slice(0, 200)}`);
        written++;
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    });
    return { written, failed, elapsedMs: nowMs() - t0, stoppedEarly, firstError };
  },
  close: async () => undefined,
}));
