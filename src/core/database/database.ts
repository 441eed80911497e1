import type { PGlite } from '@electric-sql/pglite';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { UnavailableError } from '../errors/domain-errors.js';
import type { ContextSchema } from './context-schemas.js';
import { dataSourceOptions, type DatabaseTarget } from './data-source-options.js';
import { SessionConnection, type HeldLock, type SessionClient } from './session-connection.js';

export type Row = Record<string, any>;

export interface SqlSession {
  /** `prepareAs` names a statement the hot path runs again and again: each connection plans it once. */
  query<T extends Row = Row>(sql: string, params?: unknown[], prepareAs?: string): Promise<T[]>;
  /**
   * Offered by the append transaction to its inline handlers: parameterless SQL run after every other
   * statement of the transaction, in its COMMIT's round trip (no rows come back; a failure fails the
   * append). Only for writes nothing later in the transaction reads.
   */
  defer?(sql: string): void;
}

export class DatabaseUnavailableError extends UnavailableError {
  override readonly name = 'DatabaseUnavailableError';
}

type RawResult = { rows: Row[] };
type RawQuery = { text: string; values?: unknown[]; name?: string };
type RawClient = { query(query: string | RawQuery, params?: unknown[]): Promise<RawResult & RawResult[]> };

function run(client: RawClient, text: string, values: unknown[], name?: string) {
  return client.query(name ? { name, text, values } : { text, values });
}

/** An error of the connection rather than of the statement: the connection must not go back to the pool. */
export function isConnectionError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code.startsWith('08') || /^57P0[123]$/.test(code) || /^E[A-Z]+$/.test(code);
  return /Connection terminated|Query read timeout|timeout exceeded when trying to connect|connection error|not queryable/i.test(
    error.message,
  );
}

export { sqlLiteral } from './sql-literal.js';
export type { HeldLock } from './session-connection.js';

/**
 * The one door to PostgreSQL or PGlite. Everything goes through TypeORM's DataSource; hot paths use
 * hand-written SQL. On PGlite a transaction holds the only connection, so code inside `transaction`
 * must use the session it is given, never `query` (that would wait behind itself).
 */
export class Database implements SqlSession {
  /** Set by a connection failure, cleared by the next statement that gets through (see `admit`). */
  private down?: { retryAt: number; probing: boolean };
  private sessionConnection?: SessionConnection;
  private constructor(
    readonly dataSource: DataSource,
    readonly kind: DatabaseTarget['kind'],
    private readonly pglite?: PGlite,
  ) {}

  /** Opens and migrates: the core's schema, then the contexts' (`contexts`). */
  static async open(target: DatabaseTarget, contexts: ContextSchema = {}): Promise<Database> {
    const { options, pglite } = dataSourceOptions(target, contexts);
    const dataSource = new DataSource(options);
    try {
      await dataSource.initialize();
    } catch (error) {
      await pglite?.close().catch(() => undefined);
      throw error;
    }
    return new Database(dataSource, target.kind, pglite);
  }

  /** Whether other processes may write to the same log (only a PostgreSQL server can be shared). */
  get shared(): boolean {
    return this.kind === 'postgres';
  }

  async query<T extends Row = Row>(sql: string, params: unknown[] = [], prepareAs?: string): Promise<T[]> {
    return this.withClient(async (client) => (await run(client, sql, params, prepareAs)).rows as T[]);
  }

  /** One pooled connection for `work`; a connection that failed is dropped, never handed out again. */
  private async withClient<T>(work: (client: RawClient) => Promise<T>): Promise<T> {
    const probe = this.admit();
    const runner = this.dataSource.createQueryRunner();
    let failed: unknown;
    try {
      const result = await work((await runner.connect()) as RawClient);
      this.down = undefined;
      return result;
    } catch (error) {
      failed = error;
      this.noteFailure(error);
      throw error;
    } finally {
      if (probe && this.down) this.down.probing = false;
      const broken = this.shared && isConnectionError(failed) ? failed : undefined;
      await (runner as unknown as { releasePostgresConnection(err?: Error): Promise<void> }).releasePostgresConnection(broken);
    }
  }

  /**
   * A circuit breaker. After a connection failure, callers are refused at once instead of each waiting out
   * its own timeout behind the others (while the database is away, clients get errors, not hangs); once a
   * second has passed, one statement at a time is let through as a probe, and the first that succeeds
   * closes the circuit. Returns whether this statement is the probe.
   */
  private admit(): boolean {
    const down = this.down;
    if (!down) return false;
    if (down.probing || Date.now() < down.retryAt) throw new DatabaseUnavailableError('database unavailable; try again shortly');
    down.probing = true;
    return true;
  }

  private noteFailure(error: unknown): void {
    if (!this.shared || error instanceof DatabaseUnavailableError) return;
    if (isConnectionError(error)) this.down = { retryAt: Date.now() + 1000, probing: this.down?.probing ?? false };
    else this.down = undefined; // the database answered, if only with an error of the statement's
  }

  /**
   * Parameterless statements in one round trip and one snapshot (a read-only REPEATABLE READ transaction),
   * each statement's rows in order. A loopback write costs tens of microseconds here, so a point read that
   * would take BEGIN, its query and COMMIT in turns takes one. `opening` is one more statement run first
   * whose rows are not returned (a SET LOCAL).
   */
  async snapshotRead(statements: readonly string[], opening = ''): Promise<Row[][]> {
    return this.inTransaction(async (client) => {
      const sql = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;${opening ? ` ${opening};` : ''} ${statements.join('; ')}; COMMIT`;
      const results = await client.query(sql);
      const all = Array.isArray(results) ? results : [results];
      return all.slice(opening ? 2 : 1, -1).map((r) => r.rows ?? []);
    });
  }

  /**
   * Runs `work` in one transaction. `opening` (optional) is parameterless SQL sent in the same round trip
   * as BEGIN, one statement or several (each gets its own snapshot); its rows are handed to `work`.
   * `closing` (optional) gives parameterless statements, asked for once `work` is done, sent with COMMIT.
   */
  async transaction<T>(work: (tx: SqlSession, opened: Row[][]) => Promise<T>, opening?: string, closing?: () => readonly string[]): Promise<T> {
    return this.inTransaction(async (client) => {
      const results = await client.query(opening ? `BEGIN; ${opening}` : 'BEGIN');
      const opened = Array.isArray(results) ? results.slice(1).map((r) => r.rows) : [];
      const session: SqlSession = {
        query: async <R extends Row>(sql: string, params: unknown[] = [], prepareAs?: string) => (await run(client, sql, params, prepareAs)).rows as R[],
      };
      const result = await work(session, opened);
      const last = closing?.() ?? [];
      await client.query(last.length > 0 ? `${last.join(';\n')};\nCOMMIT` : 'COMMIT');
      return result;
    });
  }

  /** `work` opens (and ends) a transaction on one pooled connection; if it throws, the transaction is rolled back. */
  private inTransaction<T>(work: (client: RawClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      try {
        return await work(client);
      } catch (error) {
        // A connection that failed (or stopped answering) is dropped; waiting on its ROLLBACK would hang.
        if (!(this.shared && isConnectionError(error))) await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * Listens on `channel` (PostgreSQL only; nothing to hear on PGlite, which lives in this process alone),
   * on the process's one session connection, listening again whenever it is lost and comes back, so
   * callers never handle a reconnect. Notifications sent meanwhile are missed: pair it with polling.
   * Returns a function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void): () => Promise<void> {
    if (!this.shared) return async () => {};
    return this.session.listen(channel, onNotify);
  }

  /**
   * Takes the session advisory lock named `name`, if nobody holds it: held until `release()`, or until the
   * session connection is lost (`released` settles; PostgreSQL frees a dead process's locks at once). On
   * PGlite, which one process owns, the lock is always granted.
   */
  async tryLock(name: string): Promise<HeldLock | undefined> {
    if (!this.shared) return { released: new Promise<void>(() => undefined), release: async () => {} };
    return this.session.tryLock(name);
  }

  private get session(): SessionConnection {
    this.sessionConnection ??= new SessionConnection(
      async () => (await (this.dataSource.driver as PostgresDriver).obtainMasterConnection()) as [SessionClient, (error?: unknown) => void],
    );
    return this.sessionConnection;
  }

  async isReady(): Promise<boolean> {
    try {
      await this.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.sessionConnection?.close();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.pglite?.close();
  }
}
