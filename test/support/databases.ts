import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Database } from '../../src/core/database/database.js';
import { EventStore, type ReadStreamOptions } from '../../src/core/event-store/event-store.js';
import type { DatabaseTarget } from '../../src/core/database/data-source-options.js';

/**
 * The backends every storage test runs against: PGlite always, PostgreSQL when DATABASE_URL is set
 * (CI sets it). Each PostgreSQL use gets a database of its own, dropped afterwards.
 */
export type Backend = { name: 'pglite' | 'postgres'; target: () => Promise<DatabaseTarget>; cleanup: () => Promise<void> };

export function backends(): Backend[] {
  const list: Backend[] = [{ name: 'pglite', target: async () => ({ kind: 'pglite', dataDir: 'memory://' }), cleanup: async () => {} }];
  const url = process.env.DATABASE_URL;
  if (url) {
    const created: string[] = [];
    list.push({
      name: 'postgres',
      target: async () => {
        const name = await createScratchDatabase(url);
        created.push(name);
        return { kind: 'postgres', url: withDatabase(url, name) };
      },
      cleanup: async () => {
        for (const name of created.splice(0)) await dropScratchDatabase(url, name);
      },
    });
  }
  return list;
}

export async function openDatabase(backend: Backend): Promise<Database> {
  return Database.open(await backend.target());
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createScratchDatabase(url: string): Promise<string> {
  const name = `tideline_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return name;
}

export async function dropScratchDatabase(url: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Opens a database and an event store on `backend` before a describe block's tests, closes both after. */
export function useEventStore(backend: Backend): { readonly db: Database; readonly store: EventStore } {
  const opened = {} as { db: Database; store: EventStore };
  beforeAll(async () => {
    opened.db = await openDatabase(backend);
    opened.store = new EventStore(opened.db);
  });
  afterAll(async () => {
    await opened.store?.drain();
    await opened.db?.close();
    await backend.cleanup();
  });
  return opened;
}

/** The real event store, noting where each stream read starts (to show what a loader did not have to read). */
export class ReadRecordingStore extends EventStore {
  readonly readsAfter: number[] = [];

  override readStream(streamId: string, options: ReadStreamOptions = {}) {
    this.readsAfter.push(options.after ?? 0);
    return super.readStream(streamId, options);
  }
}
