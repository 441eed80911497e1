/**
 * Emmett's PostgreSQL event store used the documented way: getPostgreSQLEventStore(connectionString) and
 * appendToStream(streamName, [event]) — one event per call, `writers` concurrent writers, each owning one
 * stream. Counts appends that complete inside the window.
 */
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { nowMs } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import { runWriters, type WritersResult } from '../lib/writers.js';

export type EmmettConfig = { url: string; writers: number };

runLoadChild<EmmettConfig, WritersResult>(async (cfg) => {
  const store = getPostgreSQLEventStore(cfg.url);
  await store.schema.migrate();
  await store.appendToStream('warmup', [{ type: 'pushed', data: { key: 'k', value: 0 } }]);
  return {
    run: (w) =>
      runWriters(cfg.writers, w, (id, n) =>
        store.appendToStream(`room-${id}`, [{ type: 'pushed', data: { key: 'k', value: { t: nowMs(), c: id, n } } }]),
      ),
    close: () => store.close(),
  };
});
