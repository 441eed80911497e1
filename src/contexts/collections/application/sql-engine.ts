import { randomUUID } from 'node:crypto';
import { sqlLiteral, type Database, type Row, type SqlSession } from '../../../core/database/database.js';
import { ConcurrencyError, type Event, type StreamAppend } from '../../../core/event-store/event.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import { WRITER_METADATA } from '../documents/document-store.js';
import { SQL_ADMIN, type SqlWriter, type TablePolicies } from '../documents/table-policies.js';
import { collectionStreamId, type CollectionEvent, type Document } from '../domain/collection.events.js';
import { SqlConflictError, SqlError } from '../domain/sql-error.js';
import { isQuery, isWrite, type Insert, type Query, type Statement, type Write } from '../query/ast.js';
import { Compiler, tablesOf, tablesReadBy, type Catalog, type OutputColumn, type Snapshot, type UserParams } from '../query/compiler.js';
import { parseJsonText } from '../query/json-text.js';
import { CatalogCache, sameCatalog } from './catalog-cache.js';

export type SqlEngineOptions = Readonly<{
  /** Most rows one answer may hold; a larger result is an error, not a silent cut. */
  maxResultRows: number;
  /** statement_timeout of every query a statement runs. */
  statementTimeoutMs: number;
  /** Most rows one statement (or transaction) may write. */
  maxWriteRows: number;
  /** A socket transaction open longer than this is rolled back. */
  transactionTimeoutMs: number;
  /** Most socket transactions open at once in this process. */
  maxTransactions: number;
  /** How often an auto-commit statement that lost a race is run again. */
  maxRetries: number;
}>;

export const DEFAULT_SQL_ENGINE_OPTIONS: SqlEngineOptions = {
  maxResultRows: 10_000,
  statementTimeoutMs: 10_000,
  maxWriteRows: 100_000,
  transactionTimeoutMs: 60_000,
  maxTransactions: 1000,
  maxRetries: 10,
};

/** Rows in column order; `changed` says a write committed (HTTP answers 201). */
export type SqlResult = Readonly<{ columns: string[]; rows: unknown[][]; changed: boolean }>;

/** `before`: the row as the snapshot had it, kept for tables with a policy (which judge the writer by it). */
type Pending = { doc: Document | null; existed: boolean; erased: boolean; before?: Document };

/** A transaction's view: the commits up to `tick`, its own writes over them, and every table it touched. */
type Transaction = {
  tick: string | null;
  touched: Set<string>;
  pending: Map<string, Map<string, Pending>>;
  rows: number;
  timer?: NodeJS.Timeout;
};

const TICK_SQL = `SELECT to_char(max(system_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS tick FROM collection_ticks`;

const result = (count: number | boolean, changed: boolean): SqlResult => ({ columns: ['result'], rows: [[count]], changed });

/**
 * Runs the collections' statements. Reads compile to one parameterized query over the read model. Writes
 * run against a snapshot (the latest commit, or a socket transaction's BEGIN) plus the transaction's own
 * pending writes, and commit by appending one event per table and kind, every touched table's version
 * asserted (appendMany): a table changed since the snapshot is a conflict. No PostgreSQL transaction is
 * ever held open between statements.
 */
export class SqlEngine {
  private readonly sessions = new Map<string, Transaction>();
  private readonly expired = new Map<string, string>();
  private readonly tableLocks = new Map<string, Promise<void>>();
  private readonly catalogs = new CatalogCache();

  constructor(
    private readonly db: Database,
    /** A PublishingAppender, so this process's subscribers (change feeds) hear commits at once; the bare store in tests. */
    private readonly appender: Pick<EventStore, 'appendMany'>,
    readonly options: SqlEngineOptions = DEFAULT_SQL_ENGINE_OPTIONS,
    /** Tables whose rows follow a schema (documents models): their writes are validated and given metadata. */
    private readonly policies?: TablePolicies,
  ) {}

  private async append(appends: StreamAppend[]): Promise<void> {
    await this.appender.appendMany(appends);
  }

  get openTransactions(): number {
    return this.sessions.size;
  }

  /** A query, in the session's transaction if it has one (then also as of its BEGIN). */
  async query(query: Query, params: UserParams, session?: string): Promise<SqlResult> {
    const tx = this.transactionOf(session);
    const tables = tablesOf(query);
    tables.forEach((t) => tx?.touched.add(t));
    return this.read(query, params, tx, tables);
  }

  /**
   * Any statement; `params` holds one set, or several for a bulk (`m`) statement, all applied atomically.
   * Without a session, BEGIN/COMMIT are refused (HTTP has no transactions).
   */
  async execute(statement: Statement, params: readonly UserParams[], session?: string, writer: SqlWriter = SQL_ADMIN): Promise<SqlResult> {
    switch (statement.kind) {
      case 'begin':
        return this.begin(session);
      case 'commit':
        return this.commit(session, writer);
      case 'rollback':
        this.rollback(session);
        return result(true, false);
    }
    const tx = this.transactionOf(session);
    if (isQuery(statement)) {
      let last: SqlResult = { columns: [], rows: [], changed: false };
      for (const p of params) last = await this.query(statement, p, session);
      return last;
    }
    if (!isWrite(statement)) throw new SqlError('Unsupported statement');
    if (tx) return result(await this.writeMany(tx, statement, params), false);
    return this.autoCommit(statement, params, writer);
  }

  /** The socket closed: its transaction, if any, is rolled back. */
  closeSession(session: string): void {
    this.rollback(session);
    this.expired.delete(session);
  }

  stop(): void {
    for (const session of [...this.sessions.keys()]) this.rollback(session);
  }

  // ---- transactions ----

  private transactionOf(session: string | undefined): Transaction | undefined {
    if (session === undefined) return undefined;
    const expired = this.expired.get(session);
    if (expired) {
      this.expired.delete(session);
      throw new SqlError(expired);
    }
    return this.sessions.get(session);
  }

  private async begin(session: string | undefined): Promise<SqlResult> {
    if (session === undefined) throw new SqlError('Explicit transactions not supported');
    if (this.transactionOf(session)) throw new SqlError('Cannot nest transactions');
    if (this.sessions.size >= this.options.maxTransactions) throw new SqlError(`Too many open transactions (at most ${this.options.maxTransactions})`);
    const tx: Transaction = { tick: await this.latestTick(), touched: new Set(), pending: new Map(), rows: 0 };
    if (this.sessions.has(session)) throw new SqlError('Cannot nest transactions');
    const limit = this.options.transactionTimeoutMs;
    tx.timer = setTimeout(() => {
      if (this.sessions.get(session) !== tx) return;
      this.sessions.delete(session);
      this.expired.set(session, `Transaction rolled back: it was open longer than ${limit} ms`);
    }, limit);
    tx.timer.unref();
    this.sessions.set(session, tx);
    return result(true, false);
  }

  private async commit(session: string | undefined, writer: SqlWriter): Promise<SqlResult> {
    if (session === undefined) throw new SqlError('Explicit transactions not supported');
    const tx = this.transactionOf(session);
    if (!tx) throw new SqlError('No active transaction');
    this.rollback(session);
    const changed = await this.commitTransaction(tx, writer);
    return result(true, changed);
  }

  private rollback(session: string | undefined): void {
    if (session === undefined) return;
    const tx = this.sessions.get(session);
    if (tx) clearTimeout(tx.timer);
    this.sessions.delete(session);
  }

  private latestTick(session: SqlSession = this.db): Promise<string | null> {
    return session.query(TICK_SQL).then(([row]) => (row?.tick as string | null) ?? null);
  }

  /** One statement as its own transaction; a lost race runs it again on the newer state. */
  private async autoCommit(statement: Write, params: readonly UserParams[], writer: SqlWriter): Promise<SqlResult> {
    if (isPlainInsert(statement) && tablesReadBy(statement).size === 0) return this.blindInsert(statement, params, writer);
    const tables = [...tablesOf(statement)].sort();
    return this.withTableLocks(tables, async () => {
      for (let attempt = 0; ; attempt++) {
        const tx: Transaction = { tick: await this.latestTick(), touched: new Set(), pending: new Map(), rows: 0 };
        const count = await this.writeMany(tx, statement, params);
        try {
          const changed = await this.commitTransaction(tx, writer);
          return result(count, changed);
        } catch (error) {
          if (!(error instanceof SqlConflictError) || attempt >= this.options.maxRetries) throw error;
          await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
        }
      }
    });
  }

  /**
   * An auto-commit INSERT that reads no table (its rows are made of values and parameters) has nothing to
   * be serialized against: it appends at whatever version its table has reached ('any'), without the
   * snapshot, the table's turn or the version check, so concurrent ones are group-committed together
   * instead of taking turns. A transaction that read the table still sees the change at its COMMIT.
   */
  private async blindInsert(statement: Insert, params: readonly UserParams[], writer: SqlWriter): Promise<SqlResult> {
    const tx: Transaction = { tick: null, touched: new Set(), pending: new Map(), rows: 0 };
    const count = await this.writeMany(tx, statement, params);
    const events = this.eventsOf(statement.table, tx.pending.get(statement.table), writer);
    if (events.length === 0) return result(count, false);
    await this.append([{ streamId: collectionStreamId(statement.table), expected: 'any', events }]);
    return result(count, true);
  }

  /** Auto-commit writes to one table take turns in this process (other processes are caught by versions). */
  private async withTableLocks<T>(tables: readonly string[], work: () => Promise<T>): Promise<T> {
    const key = tables.join('\u0000');
    const previous = this.tableLocks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => mine);
    this.tableLocks.set(key, chained);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tableLocks.get(key) === chained) this.tableLocks.delete(key);
    }
  }

  /**
   * Appends the transaction's events, all or nothing, each touched table's version asserted. Returns
   * whether anything was written. A table changed since the snapshot: SqlConflictError, nothing written.
   */
  private async commitTransaction(tx: Transaction, writer: SqlWriter): Promise<boolean> {
    const tables = [...tx.touched];
    if (tables.length === 0) return false;
    const state = await this.db.query(
      `SELECT tbl, version, ($2::timestamptz IS NOT NULL AND changed_at > $2::timestamptz) OR ($2::timestamptz IS NULL) AS changed
       FROM collection_tables WHERE tbl = ANY($1::text[])`,
      [tables, tx.tick],
    );
    const versions = new Map(state.map((r) => [r.tbl as string, { version: Number(r.version), changed: r.changed as boolean }]));
    if ([...versions.values()].some((v) => v.changed)) throw new SqlConflictError();
    const appends: StreamAppend[] = [];
    let written = false;
    for (const table of tables) {
      const events = this.eventsOf(table, tx.pending.get(table), writer);
      written ||= events.length > 0;
      const known = versions.get(table);
      appends.push({ streamId: collectionStreamId(table), expected: known ? known.version : 'no_stream', events });
    }
    if (!written) return false;
    try {
      await this.append(appends);
    } catch (error) {
      if (error instanceof ConcurrencyError) throw new SqlConflictError();
      throw error;
    }
    return true;
  }

  private eventsOf(table: string, pending: Map<string, Pending> | undefined, writer: SqlWriter): Event[] {
    if (!pending) return [];
    const inserted: { id: string; doc: Document }[] = [];
    const updated: { id: string; doc: Document }[] = [];
    const deleted: string[] = [];
    const erased: string[] = [];
    const policy = this.policies?.get(table);
    for (const [id, p] of pending) {
      if (p.existed && !p.doc) policy?.checkDelete(p.before ?? {}, writer);
      if (p.erased) erased.push(id);
      else if (p.doc && !p.existed) inserted.push(policy ? policy.prepareInsert(p.doc, writer) : { id, doc: p.doc });
      else if (p.doc) updated.push({ id, doc: policy ? policy.prepareUpdate(p.doc, p.before ?? {}, writer) : p.doc });
      else if (p.existed) deleted.push(id);
    }
    // A policy's table records who wrote (documents pushes name them).
    const metadata = policy ? { [WRITER_METADATA]: { userId: writer.userId, name: writer.name, email: writer.email } } : undefined;
    const events: CollectionEvent[] = [];
    if (inserted.length > 0) events.push({ type: 'RowsInserted', data: { table, rows: inserted }, metadata });
    if (updated.length > 0) events.push({ type: 'RowsUpdated', data: { table, rows: updated }, metadata });
    if (deleted.length > 0) events.push({ type: 'RowsDeleted', data: { table, ids: deleted }, metadata });
    if (erased.length > 0) events.push({ type: 'RowsErased', data: { table, ids: erased }, metadata });
    return events;
  }

  // ---- reading ----

  private snapshotOf(tx: Transaction | undefined): Snapshot {
    if (!tx) return { kind: 'current' };
    const overlay = new Map<string, Map<string, Document | null>>();
    for (const [table, rows] of tx.pending) overlay.set(table, new Map([...rows].map(([id, p]) => [id, p.doc])));
    return { kind: 'asOf', tick: tx.tick, overlay };
  }

  private async catalog(tables: Iterable<string>): Promise<Catalog> {
    const names = [...tables];
    if (names.length === 0) return new Map();
    return catalogOf(await this.db.query(CATALOG_SQL('ANY($1::text[])'), [names]));
  }

  /** `inlineParams`: values as literals (for a statement that shares a simple-protocol round trip). */
  private compiler(catalog: Catalog, tx: Transaction | undefined, params: UserParams, inlineParams = false): Compiler {
    return new Compiler({ catalog, snapshot: this.snapshotOf(tx), params, maxRows: this.options.maxResultRows, inlineParams });
  }

  /**
   * A query. When the catalog of its tables is cached, one round trip: compiled with it (values inline), sent
   * with the catalog's own read in one snapshot; should that catalog differ from the cached one, the query
   * compiles again on the slow path. That one (a table not yet read) reads the catalog in the round trip
   * that opens its transaction (BEGIN, the timeout, the catalog), then runs the query there, then COMMIT.
   */
  private async read(query: Query, params: UserParams, tx: Transaction | undefined, tables: Set<string>): Promise<SqlResult> {
    const names = [...tables];
    if (names.some((n) => n.includes('\u0000'))) {
      // (not expressible as a literal; such a table cannot exist anyway)
      const compiled = this.compiler(await this.catalog(names), tx, params).query(query);
      return this.answer(compiled, await this.run(compiled.sql, compiled.params));
    }
    const catalogSql = names.length > 0 ? CATALOG_SQL(`ANY(ARRAY[${names.map(sqlLiteral).join(', ')}]::text[])`) : undefined;
    const cached = this.catalogs.get(names);
    const fast = cached && this.inlineQuery(cached, tx, params, query);
    if (cached && fast) {
      const seen = await this.snapshotRead(catalogSql ? [catalogSql, fast.sql] : [fast.sql]);
      if (seen) {
        const catalog = catalogSql ? catalogOf(seen[0]) : new Map();
        if (sameCatalog(catalog, cached)) return this.answer(fast, seen[seen.length - 1]);
        this.catalogs.remember(names, catalog);
      }
    }
    let compiled: ReturnType<Compiler['query']> | undefined;
    const rows = await this.run(undefined, [], (opened) => {
      const catalog = catalogSql ? catalogOf(opened[1] ?? []) : new Map();
      this.catalogs.remember(names, catalog);
      compiled = this.compiler(catalog, tx, params).query(query);
      return compiled;
    }, catalogSql ? `; ${catalogSql}` : '');
    return this.answer(compiled!, rows);
  }

  /** The query compiled with values inline, or undefined when it cannot be (the slow path will say why). */
  private inlineQuery(catalog: Catalog, tx: Transaction | undefined, params: UserParams, query: Query): ReturnType<Compiler['query']> | undefined {
    try {
      return this.compiler(catalog, tx, params, true).query(query);
    } catch {
      return undefined;
    }
  }

  /**
   * The statements in one snapshot and round trip. A refusal other than a timeout or a lost connection gives
   * undefined: the query was compiled with a catalog that may be stale, so the slow path runs it again and
   * gives the authoritative answer or error.
   */
  private async snapshotRead(statements: string[]): Promise<Row[][] | undefined> {
    const timeout = Math.max(1, Math.floor(this.options.statementTimeoutMs));
    try {
      return await this.db.snapshotRead(statements, `SET LOCAL statement_timeout = ${timeout}`);
    } catch (error) {
      const translated = translate(error, timeout);
      if (translated instanceof SqlError && !isTimeout(error)) return undefined;
      throw translated;
    }
  }

  private answer(compiled: ReturnType<Compiler['query']>, rows: Row[]): SqlResult {
    if (rows.length > this.options.maxResultRows) throw new SqlError(`Result too large: more than ${this.options.maxResultRows} rows`);
    return assemble(compiled.columns, rows);
  }

  /**
   * One query in a transaction of its own, bounded by statement_timeout; the database's refusals become
   * SqlErrors. `compile` (with `opening`, more SQL sent with BEGIN) makes the query from what that returned.
   */
  private async run(
    sql: string | undefined,
    params: unknown[],
    compile?: (opened: Row[][]) => { sql: string; params: unknown[] },
    opening = '',
  ): Promise<Row[]> {
    const timeout = Math.max(1, Math.floor(this.options.statementTimeoutMs));
    try {
      return await this.db.transaction((tx, opened) => {
        const q = compile ? compile(opened) : { sql: sql!, params };
        return tx.query(q.sql, q.params);
      }, `SET LOCAL statement_timeout = ${timeout}${opening}`);
    } catch (error) {
      throw translate(error, timeout);
    }
  }

  // ---- writing ----

  /** The statement once per parameter set, in order; a plain INSERT's documents are made for all sets at once. */
  private async writeMany(tx: Transaction, statement: Write, params: readonly UserParams[]): Promise<number> {
    if (params.length > 1 && isPlainInsert(statement)) return this.insertMany(tx, statement, params);
    let count = 0;
    for (const p of params) count += await this.write(tx, statement, p);
    return count;
  }

  /**
   * A bulk INSERT without ON CONFLICT: its documents made here when they are plain data, else by one query
   * per ~30,000 placeholders (not one per set); one catalog read.
   */
  private async insertMany(tx: Transaction, statement: Insert & { source: { kind: 'values' | 'objects' } }, params: readonly UserParams[]): Promise<number> {
    const tables = tablesOf(statement);
    tables.forEach((t) => tx.touched.add(t));
    const catalog = await this.catalog(tablesReadBy(statement));
    const inline = this.compiler(catalog, tx, params[0]).insertRowsInline(statement.source.rows as never, statement.source.kind === 'values', params);
    const docs: Document[] = inline ? this.documents(statement, inline) : [];
    for (let at = inline ? params.length : 0; at < params.length; ) {
      const compiled = this.compiler(catalog, tx, params[at]).insertRowsMany(statement.source.rows as never, statement.source.kind === 'values', params.slice(at));
      const rows = await this.run(compiled.sql, compiled.params);
      for (const doc of this.documents(statement, rows.map((r) => parseJsonText(r.doc)))) docs.push(doc);
      at += compiled.taken;
    }
    tx.rows += docs.length;
    if (tx.rows > this.options.maxWriteRows) throw new SqlError(`Too many rows written: at most ${this.options.maxWriteRows} per statement or transaction`);
    let pending = tx.pending.get(statement.table);
    if (!pending) tx.pending.set(statement.table, (pending = new Map()));
    for (const doc of docs) pending.set(randomUUID(), { doc, existed: false, erased: false });
    return docs.length;
  }

  private async write(tx: Transaction, statement: Write, params: UserParams): Promise<number> {
    const tables = tablesOf(statement);
    tables.forEach((t) => tx.touched.add(t));
    // An INSERT compiles against the tables it reads only (its target's catalog is not needed to make rows).
    const catalog = await this.catalog(statement.kind === 'insert' ? tablesReadBy(statement) : tables);
    const pendingOf = () => {
      let rows = tx.pending.get(statement.table);
      if (!rows) tx.pending.set(statement.table, (rows = new Map()));
      return rows;
    };
    const bound = (n: number) => {
      tx.rows += n;
      if (tx.rows > this.options.maxWriteRows) throw new SqlError(`Too many rows written: at most ${this.options.maxWriteRows} per statement or transaction`);
    };
    switch (statement.kind) {
      case 'insert': {
        const docs = await this.insertDocuments(statement, params, tx, catalog);
        bound(docs.length);
        return this.insert(statement, docs, params, tx, catalog, pendingOf());
      }
      case 'update': {
        const compiler = this.compiler(catalog, tx, params);
        const judged = this.policies?.get(statement.table) !== undefined;
        const compiled = compiler.matchingRows(statement.table, statement.alias, statement.tablePos, statement.where, (scope, doc) => {
          const updated = compiler.updateDocument(statement.set, statement.unset, statement.patch, scope as never, doc);
          return judged ? `jsonb_build_array(${doc}, ${updated})` : updated;
        });
        const rows = await this.run(compiled.sql, compiled.params);
        bound(rows.length);
        const pending = pendingOf();
        for (const row of rows) {
          const [old, doc] = judged ? (parseJsonText(row.doc) as Document[]) : [undefined, parseJsonText(row.doc) as Document];
          const before = pending.get(row.row_id);
          pending.set(row.row_id, { doc, existed: before ? before.existed : true, erased: false, before: before ? before.before : old });
        }
        return rows.length;
      }
      case 'delete':
      case 'erase': {
        const judged = this.policies?.get(statement.table) !== undefined;
        const compiled = this.compiler(catalog, tx, params).matchingRows(statement.table, statement.alias, statement.tablePos, statement.where, judged ? (_scope, doc) => doc : undefined);
        const rows = await this.run(compiled.sql, compiled.params);
        // ERASE matches rows of the present like DELETE; the projector then removes every version of them.
        const ids = [...new Set(rows.map((r) => r.row_id as string))];
        const olds = judged ? new Map(rows.map((r) => [r.row_id as string, parseJsonText(r.doc) as Document])) : undefined;
        bound(ids.length);
        const pending = pendingOf();
        for (const id of ids) {
          const before = pending.get(id);
          if (before && !before.existed) pending.delete(id);
          else pending.set(id, { doc: null, existed: true, erased: statement.kind === 'erase', before: before ? before.before : olds?.get(id) });
        }
        return ids.length;
      }
    }
  }

  private async insertDocuments(statement: Insert, params: UserParams, tx: Transaction, catalog: Catalog): Promise<Document[]> {
    const { source } = statement;
    let docs: Document[];
    if (source.kind === 'query') {
      const tables = tablesOf(source.query);
      const res = await this.read(source.query, params, tx, tables);
      const columns = statement.columns ?? res.columns;
      if (statement.columns && statement.columns.length !== res.columns.length) throw new SqlError(`Cannot insert into table: ${statement.table}: ${statement.columns.length} columns, ${res.columns.length} values`, statement.pos);
      docs = res.rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
    } else {
      const inline = this.compiler(catalog, tx, params).insertRowsInline(source.rows as never, source.kind === 'values', [params]);
      if (inline) return this.documents(statement, inline);
      const compiled = this.compiler(catalog, tx, params).insertRows(source.rows as never, source.kind === 'values');
      const rows = await this.run(compiled.sql, compiled.params);
      return this.documents(statement, rows.map((r) => parseJsonText(r.doc)));
    }
    return clean(statement, docs);
  }

  /** The documents an INSERT's VALUES rows (arrays) or object list (objects) made. */
  private documents(statement: Insert, values: unknown[]): Document[] {
    if (statement.source.kind !== 'values') {
      return clean(
        statement,
        values.map((v) => {
          if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new SqlError('Cannot insert non-object', statement.pos);
          return v as Document;
        }),
      );
    }
    const width = (values[0] as unknown[] | undefined)?.length ?? 0;
    const columns = statement.columns ?? Array.from({ length: width }, (_, i) => `column${i + 1}`);
    return clean(
      statement,
      values.map((row) => {
        const cells = row as unknown[];
        if (cells.length !== columns.length) throw new SqlError(`Cannot insert into table: ${statement.table} without all values containing same number of columns: ${columns.length}`, statement.pos);
        return Object.fromEntries(columns.map((c, i) => [c, cells[i]]));
      }),
    );
  }

  private async insert(statement: Insert, docs: Document[], params: UserParams, tx: Transaction, catalog: Catalog, pending: Map<string, Pending>): Promise<number> {
    const conflict = statement.onConflict;
    if (!conflict) {
      for (const doc of docs) pending.set(randomUUID(), { doc, existed: false, erased: false });
      return docs.length;
    }
    const keyOf = (doc: Document): string | undefined => {
      const values = conflict.columns.map((c) => doc[c]);
      return values.some((v) => v === undefined || v === null) ? undefined : JSON.stringify(values);
    };
    // The rows already there whose conflict columns equal a new document's.
    const keys = [...new Set(docs.map(keyOf).filter((k): k is string => k !== undefined))];
    const byKey = new Map<string, { id: string; doc: Document }>();
    if (keys.length > 0 && (catalog.has(statement.table) || tx.pending.get(statement.table)?.size)) {
      const compiler = this.compiler(catalog, tx, params);
      const probe = compiler.matchingRows(statement.table, undefined, statement.tablePos, undefined, (_scope, doc) => doc);
      const columns = JSON.stringify(conflict.columns);
      const sql = `SELECT m.row_id, m.doc FROM (${probe.sql}) m
        WHERE (SELECT jsonb_agg((m.doc::jsonb) -> c ORDER BY o) FROM jsonb_array_elements_text($${probe.params.length + 1}::jsonb) WITH ORDINALITY AS k(c, o))
          IN (SELECT jsonb_array_elements($${probe.params.length + 2}::jsonb))`;
      const rows = await this.run(sql, [...probe.params, columns, `[${keys.join(',')}]`]);
      for (const row of rows) {
        const doc = parseJsonText(row.doc) as Document;
        const key = keyOf(doc);
        if (key !== undefined) byKey.set(key, { id: row.row_id, doc });
      }
    }
    let count = 0;
    let queue = docs;
    while (queue.length > 0) {
      // One round takes each key once, so a second document with the same key sees the first's outcome.
      const round: Document[] = [];
      const later: Document[] = [];
      const inRound = new Set<string>();
      for (const doc of queue) {
        const key = keyOf(doc);
        if (key !== undefined && inRound.has(key)) later.push(doc);
        else {
          if (key !== undefined) inRound.add(key);
          round.push(doc);
        }
      }
      const updates: { key: string; existing: { id: string; doc: Document }; doc: Document }[] = [];
      for (const doc of round) {
        const key = keyOf(doc);
        const existing = key !== undefined ? byKey.get(key) : undefined;
        if (!existing) {
          const id = randomUUID();
          pending.set(id, { doc, existed: false, erased: false });
          if (key !== undefined) byKey.set(key, { id, doc });
          count++;
        } else if (conflict.action.kind === 'update') {
          updates.push({ key: key!, existing, doc });
        }
      }
      if (updates.length > 0 && conflict.action.kind === 'update') {
        const compiled = this.compiler(catalog, tx, params).conflictUpdates(
          statement.table,
          conflict.action.set,
          conflict.action.where,
          JSON.stringify(updates.map((u) => [u.existing.doc, u.doc])),
        );
        const rows = await this.run(compiled.sql, compiled.params);
        rows.forEach((row, i) => {
          if (row.doc === null) return;
          const { existing, key } = updates[i];
          const doc = parseJsonText(row.doc) as Document;
          if ('system_time' in doc) throw new SqlError('Cannot update SYSTEM_TIME column', statement.pos);
          const before = pending.get(existing.id);
          pending.set(existing.id, { doc, existed: before ? before.existed : true, erased: false, before: before ? before.before : existing.doc });
          byKey.delete(key);
          const newKey = keyOf(doc);
          if (newKey !== undefined) byKey.set(newKey, { id: existing.id, doc });
          count++;
        });
      }
      queue = later;
    }
    return count;
  }
}

/** Documents hold no nulls; SYSTEM_TIME is not theirs to set; an empty one is refused. */
function clean(statement: Insert, docs: Document[]): Document[] {
  return docs.map((doc) => {
    const out: Document = {};
    for (const [k, v] of Object.entries(doc)) if (v !== null && v !== undefined) out[k] = v;
    if ('system_time' in out) throw new SqlError('Cannot insert value into SYSTEM_TIME column', statement.pos);
    if (Object.keys(out).length === 0) throw new SqlError('Cannot insert empty object', statement.pos);
    return out;
  });
}

/** An INSERT of values or objects (not a query), without ON CONFLICT. */
function isPlainInsert(statement: Write): statement is Insert & { source: { kind: 'values' | 'objects' } } {
  return statement.kind === 'insert' && !statement.onConflict && statement.source.kind !== 'query';
}

/** Each table with every column it ever had; `tables` is the SQL naming them (`ANY(…)`). */
const CATALOG_SQL = (tables: string) =>
  `SELECT t.tbl, COALESCE((SELECT array_agg(c.col) FROM collection_columns c WHERE c.tbl = t.tbl), '{}'::text[]) AS cols
   FROM collection_tables t WHERE t.tbl = ${tables}`;

function catalogOf(rows: Row[]): Catalog {
  return new Map(rows.map((r) => [r.tbl as string, new Set(parseArray(r.cols))]));
}

function parseArray(value: unknown): string[] {
  if (Array.isArray(value)) return value as string[];
  if (typeof value === 'string') {
    // PGlite may hand back a text[] literal: {a,"b c"}
    const inner = value.slice(1, -1);
    if (inner === '') return [];
    const out: string[] = [];
    const re = /"((?:[^"\\]|\\.)*)"|([^,]+)/g;
    for (let m; (m = re.exec(inner)); ) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
    return out;
  }
  return [];
}

/** The columns of a result: named ones in order, a `*` expanded to the union of its documents' keys, alphabetical. */
function assemble(columns: readonly OutputColumn[], rows: Row[]): SqlResult {
  const values = rows.map((row) => columns.map((_, i) => parseJsonText(row[`c${i}`] ?? null)));
  const names: string[] = [];
  const pick: ((cells: unknown[]) => unknown)[] = [];
  columns.forEach((column, i) => {
    if (column.kind === 'named') {
      names.push(column.name);
      pick.push((cells) => cells[i] ?? null);
      return;
    }
    const keys = new Set<string>();
    for (const cells of values) {
      const doc = cells[i];
      if (doc && typeof doc === 'object') for (const k of Object.keys(doc)) keys.add(k);
    }
    for (const key of [...keys].sort()) {
      names.push(key);
      pick.push((cells) => ((cells[i] as Record<string, unknown> | null)?.[key] ?? null));
    }
  });
  return { columns: names, rows: values.map((cells) => pick.map((p) => p(cells))), changed: false };
}

function translate(error: unknown, timeoutMs: number): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === '57014') return new SqlError(`Query timed out after ${timeoutMs} ms`);
  if (typeof code === 'string' && (code.startsWith('22') || code === '42883' || code === '42804' || code === '21000'))
    return new SqlError((error as Error).message);
  return error;
}

function isTimeout(error: unknown): boolean {
  return (error as { code?: unknown }).code === '57014';
}
