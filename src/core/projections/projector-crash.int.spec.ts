import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { backends, createScratchDatabase, dropScratchDatabase, withDatabase } from '../../../test/support/databases.js';
import { tempDataDir } from '../../../test/support/tideline.js';
import { Database } from '../database/database.js';
import type { DatabaseTarget } from '../database/data-source-options.js';
import { EventStore } from '../event-store/event-store.js';
import { EventFeed } from './event-feed.js';
import { ProjectionRuntime } from './projection-runtime.js';
import type { Projector } from './projector.js';

/**
 * Projectors in processes of their own (test/support/projector-child.mjs, on the built core), killed
 * with SIGKILL: inside a batch after its table write (the table and the checkpoint stay together), and
 * while it owns the projector (another process takes over from the committed checkpoint).
 */

const CHILD = resolve('test/support/projector-child.mjs');
const FAST = { batchSize: 5, pollMs: 30, lockRetryMs: 100, maxBackoffMs: 200 };

type Child = { process: ChildProcess; exited: Promise<string | null>; lines: string[] };

function spawnProjector(env: Record<string, string>): Child {
  const child = spawn(process.execPath, [CHILD], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
  return { process: child, lines, exited: new Promise((r) => child.once('exit', (_code, signal) => r(signal))) };
}

function tally(table: string): Projector {
  return {
    name: `tally-${table}`,
    version: 1,
    selection: { streamPrefixes: [`${table}:`] },
    tables: [table],
    async handle(tx, events) {
      for (const e of events) {
        await tx.query(`INSERT INTO ${table} (global_position, stream_id, n) VALUES ($1, $2, $3)`, [e.globalPosition, e.streamId, (e.data as { n: number }).n]);
      }
    },
  };
}

async function prepare(db: Database, store: EventStore, table: string, count: number): Promise<void> {
  await db.query(`CREATE TABLE ${table} (global_position bigint NOT NULL, stream_id text NOT NULL, n int NOT NULL)`);
  for (let i = 0; i < count; i++) await store.append(`${table}:s`, 'any', [{ type: 'Counted', data: { n: i } }]);
}

/** Every event exactly once, in log order. */
async function expectExactlyOnce(db: Database, table: string, count: number): Promise<void> {
  const rows = await db.query(`SELECT n FROM ${table} ORDER BY global_position, n`);
  expect(rows.map((r) => r.n)).toEqual(Array.from({ length: count }, (_, i) => i));
}

async function finishHere(db: Database, store: EventStore, table: string): Promise<void> {
  const runtime = new ProjectionRuntime(db, store, new EventFeed(), FAST);
  runtime.register(tally(table));
  await runtime.start();
  await runtime.waitFor(`tally-${table}`, await store.logHead(), 10_000);
  await runtime.stop();
}

describe.each(backends())('a projector killed with SIGKILL on $name', (backend) => {
  it('inside a batch, after its table write: the table and its checkpoint stay together, every event lands once', async () => {
    const table = 'tally_crash';
    let target: DatabaseTarget;
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;
    if (backend.name === 'postgres') {
      const name = await createScratchDatabase(process.env.DATABASE_URL!);
      target = { kind: 'postgres', url: withDatabase(process.env.DATABASE_URL!, name) };
      env = { DATABASE_URL: target.url };
      cleanup = () => dropScratchDatabase(process.env.DATABASE_URL!, name);
    } else {
      const dir = tempDataDir();
      target = { kind: 'pglite', dataDir: dir.dir };
      env = { DATA_DIR: dir.dir };
      cleanup = async () => dir.remove();
    }
    try {
      let db = await Database.open(target);
      let store = new EventStore(db);
      await prepare(db, store, table, 30);
      if (backend.name === 'pglite') await db.close(); // PGlite: one process at a time

      const child = spawnProjector({ ...env, TABLE: table, CRASH_AT: '17' });
      expect(await child.exited).toBe('SIGKILL');

      if (backend.name === 'pglite') {
        db = await Database.open(target);
        store = new EventStore(db);
      }
      const [checkpoint] = await db.query(`SELECT global_position FROM projection_checkpoints WHERE name = $1`, [`tally-${table}`]);
      const [landed] = await db.query(`SELECT count(*)::int AS n, COALESCE(max(global_position), 0) AS last FROM ${table}`);
      // What committed before the crash is exactly what the checkpoint says: nothing of the killed batch.
      expect(Number(landed.last)).toBe(Number(checkpoint.global_position));
      expect(landed.n).toBeLessThan(30);
      await finishHere(db, store, table);
      await expectExactlyOnce(db, table, 30);
      await db.close();
    } finally {
      await cleanup();
    }
  });
});

if (backends().some((b) => b.name === 'postgres')) {
  describe('projector takeover on PostgreSQL', () => {
    it('when its owner is killed, another process takes over from the committed checkpoint', async () => {
      const table = 'tally_takeover';
      const name = await createScratchDatabase(process.env.DATABASE_URL!);
      const url = withDatabase(process.env.DATABASE_URL!, name);
      const db = await Database.open({ kind: 'postgres', url });
      const store = new EventStore(db);
      const child = spawnProjector({ DATABASE_URL: url, TABLE: table });
      const here = new ProjectionRuntime(db, store, new EventFeed(), FAST);
      try {
        await prepare(db, store, table, 20);
        // The child owns it once it reports so; only then does this process start (and wait its turn).
        const deadline = Date.now() + 15_000;
        while (!child.lines.some((l) => l.includes('"owned":true'))) {
          if (Date.now() > deadline) throw new Error(`child never owned the projector: ${child.lines.join('\n')}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        here.register(tally(table));
        await here.start();
        await here.waitFor(`tally-${table}`, await store.logHead(), 10_000);
        expect((await here.status())[0].owned).toBe(false);

        child.process.kill('SIGKILL');
        await child.exited;
        for (let i = 20; i < 40; i++) await store.append(`${table}:s`, 'any', [{ type: 'Counted', data: { n: i } }]);
        await here.waitFor(`tally-${table}`, await store.logHead(), 10_000);
        expect((await here.status())[0].owned).toBe(true);
        await expectExactlyOnce(db, table, 40);
      } finally {
        child.process.kill('SIGKILL');
        await here.stop();
        await store.drain();
        await db.close();
        await dropScratchDatabase(process.env.DATABASE_URL!, name);
      }
    });
  });
}
