// A server process reduced to one projector, for the crash and takeover tests: the built core (dist/),
// one tally projector, and (with CRASH_AT) a SIGKILL of itself inside a batch, after its table write
// and before its checkpoint commits.
import { Database } from '../../dist/core/database/database.js';
import { EventStore } from '../../dist/core/event-store/event-store.js';
import { EventFeed } from '../../dist/core/projections/event-feed.js';
import { ProjectionRuntime } from '../../dist/core/projections/projection-runtime.js';

const { DATABASE_URL, DATA_DIR, TABLE, CRASH_AT } = process.env;
const target = DATABASE_URL ? { kind: 'postgres', url: DATABASE_URL } : { kind: 'pglite', dataDir: DATA_DIR };
const db = await Database.open(target);
const store = new EventStore(db);
const runtime = new ProjectionRuntime(db, store, new EventFeed(), { batchSize: 5, pollMs: 30, lockRetryMs: 100, maxBackoffMs: 200 });
runtime.register({
  name: `tally-${TABLE}`,
  version: 1,
  selection: { streamPrefixes: [`${TABLE}:`] },
  tables: [TABLE],
  async handle(tx, events) {
    for (const event of events) {
      await tx.query(`INSERT INTO ${TABLE} (global_position, stream_id, n) VALUES ($1, $2, $3)`, [event.globalPosition, event.streamId, event.data.n]);
    }
    if (CRASH_AT && events.some((e) => e.data.n === Number(CRASH_AT))) process.kill(process.pid, 'SIGKILL');
  },
});
await runtime.start();
setInterval(async () => {
  const [status] = await runtime.status().catch(() => [{}]);
  process.stdout.write(`${JSON.stringify(status)}\n`);
}, 50);
