import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import type { DataSourceOptions } from 'typeorm';
import { EventRow } from '../event-store/schema/event.entity.js';
import { CreateEventLog1763900000000 } from '../event-store/migrations/1763900000000-create-event-log.js';
import { CreateSnapshots1763900000001 } from '../event-store/migrations/1763900000001-create-snapshots.js';
import { AddAppendKeys1765000000000 } from '../event-store/migrations/1765000000000-add-append-keys.js';
import { AddSnapshotVersions1765000000001 } from '../event-store/migrations/1765000000001-add-snapshot-versions.js';
import { SnapshotRow } from '../event-store/schema/snapshot.entity.js';
import { CreateProjectionCheckpoints1764600000000 } from '../projections/migrations/1764600000000-create-projection-checkpoints.js';
import { ProjectionCheckpointRow } from '../projections/schema/projection-checkpoint.entity.js';
import type { ContextSchema } from './context-schemas.js';

export type DatabaseTarget =
  /** `queryTimeoutMs`: a query with no answer by then fails (a partitioned server must not hang its callers). */
  | { kind: 'postgres'; url: string; poolSize?: number; queryTimeoutMs?: number }
  /** `dataDir` is a folder, or `memory://` for a throwaway database. */
  | { kind: 'pglite'; dataDir: string };

export type OpenedDataSourceOptions = { options: DataSourceOptions; pglite?: PGlite };

export const ENTITIES = [EventRow, SnapshotRow, ProjectionCheckpointRow];
export const MIGRATIONS = [CreateEventLog1763900000000, CreateSnapshots1763900000001, CreateProjectionCheckpoints1764600000000, AddAppendKeys1765000000000, AddSnapshotVersions1765000000001];

export function databaseTarget(env: { DATABASE_URL?: string; DATA_DIR?: string; DATABASE_QUERY_TIMEOUT_MS?: number }): DatabaseTarget {
  if (env.DATABASE_URL) return { kind: 'postgres', url: env.DATABASE_URL, queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS };
  return { kind: 'pglite', dataDir: env.DATA_DIR ?? './data' };
}

/**
 * TypeORM owns schema and connections on both backends. PGlite is reached through its own `pg` bridge
 * with a pool of one: PGlite has a single session, so every transaction queues behind the one running.
 */
export function dataSourceOptions(target: DatabaseTarget, contexts: ContextSchema = {}): OpenedDataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities: [...ENTITIES, ...(contexts.entities ?? [])],
    migrations: [...MIGRATIONS, ...(contexts.migrations ?? [])],
    migrationsRun: true,
    synchronize: false,
    logging: false,
  };
  if (target.kind === 'postgres') {
    return {
      options: {
        ...common,
        url: target.url,
        poolSize: target.poolSize ?? 10,
        extra: { connectionTimeoutMillis: 5000, query_timeout: target.queryTimeoutMs ?? 5000 },
      },
    };
  }
  const pglite = new PGlite(pgliteDir(target.dataDir));
  return {
    pglite,
    options: {
      ...common,
      poolSize: 1,
      extra: { ...createPgConfig(pglite), max: 1, idleTimeoutMillis: 0 },
    },
  };
}

function pgliteDir(dataDir: string): string {
  if (dataDir.startsWith('memory://')) return dataDir;
  const dir = resolve(join(dataDir, 'pglite'));
  mkdirSync(dir, { recursive: true });
  return dir;
}
