/**
 * The naive NestJS path: a TypeORM repository and `repository.save(entity)`, one event per call.
 * `writers` concurrent writers (each owning one stream, positions 1, 2, 3…) share a pool of `poolSize`.
 * Counts saves that complete inside the window.
 */
import { DataSource, EntitySchema } from 'typeorm';
import { nowMs } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { createEventsTable } from '../lib/scratch-db.js';
import { runWriters, type WritersResult } from '../lib/writers.js';

export type NaiveConfig = { url: string; writers: number; poolSize: number };

type EventEntity = {
  globalPosition?: string;
  streamId: string;
  streamPosition: string;
  type: string;
  data: unknown;
  metadata?: Record<string, unknown>;
  nodeId?: string;
  createdAt?: Date;
};

const EventSchema = new EntitySchema<EventEntity>({
  name: 'EventEntity',
  tableName: 'events',
  columns: {
    globalPosition: { name: 'global_position', type: 'bigint', primary: true, generated: 'increment' },
    streamId: { name: 'stream_id', type: 'text' },
    streamPosition: { name: 'stream_position', type: 'bigint' },
    type: { type: 'text' },
    data: { type: 'jsonb' },
    metadata: { type: 'jsonb', default: () => `'{}'::jsonb` },
    nodeId: { name: 'node_id', type: 'text', default: '' },
    createdAt: { name: 'created_at', type: 'timestamptz', default: () => 'now()' },
  },
});

runLoadChild<NaiveConfig, WritersResult>(async (cfg) => {
  const ds = new DataSource({ type: 'postgres', url: cfg.url, entities: [EventSchema], poolSize: cfg.poolSize, synchronize: false, logging: false });
  await ds.initialize();
  await createEventsTable((sql) => ds.query(sql));
  const repository = ds.getRepository(EventSchema);
  return {
    run: (w) =>
      runWriters(cfg.writers, w, (id, n) =>
        repository.save({ streamId: `room-${id}`, streamPosition: String(n), type: 'k', data: { key: 'k', value: { t: nowMs(), c: id, n } } }),
      ),
    close: () => ds.destroy(),
  };
});
