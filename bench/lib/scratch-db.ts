import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { QueryRunner } from 'typeorm';
import { CreateEventLog1763900000000 } from '../../src/core/event-store/migrations/1763900000000-create-event-log.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Tideline's log table, created by Tideline's own migration, for the peers that write "the same events". */
export async function createEventsTable(query: (sql: string) => Promise<unknown>): Promise<void> {
  await new CreateEventLog1763900000000().up({ query } as unknown as QueryRunner);
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Scratch databases of one bench run: `tideline_bench_<random>_<purpose>`, each created on demand and all
 * dropped (WITH (FORCE)) at the end of the run. One database per purpose keeps Tideline's and the peers'
 * `events` tables apart and every measurement starting from an empty log.
 */
export class ScratchDatabases {
  readonly prefix = `tideline_bench_${randomBytes(4).toString('hex')}`;
  private readonly created: string[] = [];

  constructor(readonly adminUrl: string) {}

  private async admin<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Server version string, or throws when PostgreSQL cannot be reached. */
  async probe(): Promise<string> {
    return this.admin(async (c) => (await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v);
  }

  async create(purpose: string): Promise<string> {
    const name = `${this.prefix}_${purpose.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}`;
    await this.admin((c) => c.query(`CREATE DATABASE ${name}`));
    this.created.push(name);
    return withDatabase(this.adminUrl, name);
  }

  async drop(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    await this.admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    const i = this.created.indexOf(name);
    if (i >= 0) this.created.splice(i, 1);
  }

  async dropAll(): Promise<void> {
    if (!this.created.length) return;
    await this.admin(async (c) => {
      for (const name of this.created.splice(0)) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  }
}
