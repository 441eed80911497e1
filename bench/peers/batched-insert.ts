/**
 * Ceiling peer for the durable-push row: one `pg` client writing `events` events into Tideline's table
 * shape as multi-row INSERTs of `batch` rows (one autocommitted statement per batch). Events go round-robin
 * over `streams` streams with consecutive stream positions, like the pushes into the bench rooms.
 */
import pg from 'pg';
import { nowMs } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { createEventsTable } from '../lib/scratch-db.js';

export type BatchedInsertConfig = { url: string; events: number; batch: number; streams: number };
export type BatchedInsertResult = { events: number; elapsedMs: number };

const COLS = 4;

runLoadChild<BatchedInsertConfig, BatchedInsertResult>(async (cfg) => {
  const client = new pg.Client({ connectionString: cfg.url });
  await client.connect();
  await createEventsTable((sql) => client.query(sql));
  const statement = (rows: number) =>
    `INSERT INTO events (stream_id, stream_position, type, data) VALUES ` +
    Array.from({ length: rows }, (_, r) => `($${r * COLS + 1}, $${r * COLS + 2}, $${r * COLS + 3}, $${r * COLS + 4})`).join(', ');
  const full = statement(cfg.batch);
  return {
    async run() {
      const t0 = nowMs();
      let written = 0;
      while (written < cfg.events) {
        const rows = Math.min(cfg.batch, cfg.events - written);
        const params: unknown[] = new Array(rows * COLS);
        for (let r = 0; r < rows; r++) {
          const i = written + r;
          params[r * COLS] = `room-${i % cfg.streams}`;
          params[r * COLS + 1] = Math.floor(i / cfg.streams) + 1;
          params[r * COLS + 2] = 'k';
          params[r * COLS + 3] = JSON.stringify({ key: 'k', value: { t: nowMs(), c: i % cfg.streams, n: i } });
        }
        await client.query(rows === cfg.batch ? full : statement(rows), params);
        written += rows;
      }
      return { events: written, elapsedMs: nowMs() - t0 };
    },
    close: () => client.end(),
  };
});
