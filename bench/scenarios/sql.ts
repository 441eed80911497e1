/**
 * Rows — the SQL (Endb) dialect. Tideline on a scratch PostgreSQL database, driven over its `/sql` socket
 * (JSON-RPC 2.0) from a load process: a bulk insert of `BULK_ROWS` rows in one `m: true` statement (which
 * also seeds the table the reads hit), then point reads (`SELECT * FROM docs WHERE id = ?`) and single-row
 * INSERTs from `CONNECTIONS` sockets, each with one statement in flight. The peer is PostgreSQL itself in the
 * same run, through `pg`: a hand-written document table (`id bigint PRIMARY KEY, doc jsonb`), the same
 * statements over a pg Pool of `CONNECTIONS` connections, and `COPY … FROM STDIN` for the bulk rows.
 * Both databases are ANALYZEd after the bulk load, before the reads (see below).
 */
import pg from 'pg';
import type { Context } from '../lib/context.js';
import { LoadProcess, withLoad } from '../lib/load.js';
import { Histogram, median, type LatencySummary } from '../lib/stats.js';
import { evaluate, formatNumber, type Row, type Target } from '../lib/table.js';
import type { SqlClientConfig, SqlClientResult, SqlOp } from '../load/sql-client.js';

const CONNECTIONS = 16;
const BULK_ROWS = 10_000;
/** Row['section'] has no 'sql' member yet (bench/lib/table.ts); nothing reads it but latest.json. */
const SECTION: Row['section'] = 'sql';

type Throughput = { perSec: number; latency: LatencySummary; completed: number; errors: number; firstError?: string; empty: number };
type Side = {
  bulk?: { rowsPerSec: number; runsMs: number[] } | { na: string };
  read?: Throughput | { na: string };
  insert?: Throughput | { na: string };
};

export async function sql(ctx: Context): Promise<Row[]> {
  const tideline = await measure(ctx, 'tideline');
  const peer = await measure(ctx, 'postgres');
  ctx.details.sql = { connections: CONNECTIONS, bulkRows: BULK_ROWS, tideline, postgres: peer };

  const value = (m: Side[keyof Side] | undefined, pick: (v: never) => number): { v: number | null; na?: string } =>
    !m ? { v: null, na: 'not measured' } : 'na' in m ? { v: null, na: m.na } : { v: pick(m as never) };
  const ms = (v: number) => (v < 100 ? v.toFixed(2) : formatNumber(v, ''));
  const both = (m: Side['read']) => (!m || 'na' in m ? undefined : `${ms(m.latency.p50)} / ${ms(m.latency.p99)} ms`);

  const rows: Row[] = [];
  const throughputRows = (op: 'read' | 'insert', scenario: string, peerName: string) => {
    const t = value(tideline[op], (m: Throughput) => m.perSec);
    const p = value(peer[op], (m: Throughput) => m.perSec);
    const ratio = t.v !== null && p.v ? t.v / p.v : null;
    const target: Target = { kind: 'ratio>=', value: 0.5 };
    rows.push({
      section: SECTION, scenario: `${scenario}: statements/s`, unit: '/s',
      tideline: t.v, na: t.na, peer: peerName, peerValue: p.v, peerNa: p.na, ratio, target, met: evaluate(target, t.v, ratio),
    });
    const tl = value(tideline[op], (m: Throughput) => m.latency.p99);
    const pl = value(peer[op], (m: Throughput) => m.latency.p99);
    rows.push({
      section: SECTION, scenario: `${scenario}: latency p50 / p99`, unit: 'ms',
      tideline: tl.v, tidelineText: both(tideline[op]), na: tl.na, peer: peerName, peerValue: pl.v, peerText: both(peer[op]), peerNa: pl.na,
      ratio: tl.v !== null && pl.v ? tl.v / pl.v : null, target: { kind: 'none' }, met: null,
    });
  };
  throughputRows('read', `sql point read (SELECT * … WHERE id = ?, ${CONNECTIONS} sockets)`, `pg Pool(${CONNECTIONS}): SELECT … WHERE id = $1 (jsonb table, PK)`);
  throughputRows('insert', `sql single-row INSERT (${CONNECTIONS} sockets)`, `pg Pool(${CONNECTIONS}): single-row INSERT`);
  const tb = value(tideline.bulk, (m: { rowsPerSec: number }) => m.rowsPerSec);
  const pb = value(peer.bulk, (m: { rowsPerSec: number }) => m.rowsPerSec);
  rows.push({
    section: SECTION, scenario: `sql bulk INSERT of ${BULK_ROWS.toLocaleString('en-US')} rows, one m:true statement`, unit: 'rows/s',
    tideline: tb.v, na: tb.na, peer: 'COPY … FROM STDIN (pg, 1 connection)', peerValue: pb.v, peerNa: pb.na,
    ratio: tb.v !== null && pb.v ? tb.v / pb.v : null, target: { kind: 'none' }, met: null,
  });
  return rows;
}

/** Bulk (seeding `docs`), then reads, then inserts, on one side: Tideline over its socket or PostgreSQL through pg. */
async function measure(ctx: Context, target: SqlClientConfig['target']): Promise<Side> {
  const { opts } = ctx;
  const who = `sql (${target === 'tideline' ? 'tideline' : 'pg peer'})`;
  const side: Side = {};
  let server: Awaited<ReturnType<Context['startTideline']>> | undefined;
  try {
    const url = await ctx.postgres(`sql_${target}`);
    const base: Omit<SqlClientConfig, 'op'> = {
      target,
      connections: CONNECTIONS,
      readIds: 0,
      bulkRows: BULK_ROWS,
      bulkRuns: opts.quick ? 1 : 3,
      bulkBudgetMs: 12_000,
    };
    if (target === 'tideline') {
      server = await ctx.startTideline({ kind: 'postgres', url });
      base.wsUrl = `${server.wsUrl}/sql`;
    } else {
      base.pgUrl = url;
      await withClient(url, async (c) => {
        await c.query(`CREATE TABLE docs (id bigint PRIMARY KEY, doc jsonb NOT NULL)`);
        await c.query(`CREATE TABLE ins (id bigint PRIMARY KEY, doc jsonb NOT NULL)`);
      });
    }
    const phase = async (op: SqlOp, extra: Partial<SqlClientConfig> = {}): Promise<SqlClientResult> => {
      const p = new LoadProcess<SqlClientResult>(`sql-${target}-${op}`, 'bench/load/sql-client.ts', opts.verbose);
      return withLoad([p], async () => {
        await p.setup({ ...base, op, ...extra });
        p.start(op === 'bulk' ? ctx.window(0) : ctx.window());
        return p.result(op === 'bulk' ? 120_000 : opts.warmupMs + opts.measureMs + 60_000);
      });
    };

    const bulk = await phase('bulk');
    const seeded = bulk.bulk.reduce((s, r) => s + r.rows, 0);
    if (bulk.errors || !bulk.bulk.length) {
      side.bulk = { na: 'failed, see notes' };
      ctx.note(`${who}: bulk insert failed: ${bulk.firstError}`);
    } else {
      const runsMs = bulk.bulk.map((r) => r.ms);
      side.bulk = { rowsPerSec: BULK_ROWS / (median(runsMs) / 1000), runsMs };
      ctx.log(`${target}: bulk ${BULK_ROWS} rows in ${runsMs.map((m) => `${Math.round(m)} ms`).join(', ')} → ${Math.round(side.bulk.rowsPerSec)} rows/s (median)`);
    }

    // Fresh tables have no statistics until autovacuum gets to them (within a minute, at most): without
    // them the planner scans Tideline's rows by table instead of using the document index. Measure the
    // steady state: ANALYZE both databases alike once the rows are in.
    await withClient(url, (c) => c.query('ANALYZE'));

    const throughput = async (op: 'read' | 'insert'): Promise<Throughput | { na: string }> => {
      if (op === 'read' && seeded === 0) return { na: 'no rows (bulk failed)' };
      const r = await phase(op, { readIds: seeded });
      const latency = Histogram.fromJSON(r.latency).summary();
      if (r.errors) ctx.note(`${who}: ${r.errors} ${op}s failed, first: ${r.firstError}`);
      if (r.empty) ctx.note(`${who}: ${r.empty} point reads found no row`);
      if (r.closed) ctx.note(`${who}: the server closed ${r.closed} of ${CONNECTIONS} sockets during the ${op}s`);
      if (r.completed === 0) return { na: `no ${op}s completed` };
      const perSec = r.completed / (opts.measureMs / 1000);
      ctx.log(`${target}: ${Math.round(perSec)} ${op}s/s (p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms)`);
      return { perSec, latency, completed: r.completed, errors: r.errors, firstError: r.firstError, empty: r.empty };
    };
    side.read = await throughput('read');
    side.insert = await throughput('insert');
  } catch (error) {
    const na = ctx.na(error, who);
    if (server?.stderrTail()) ctx.note(`${who}: server stderr: ${server.stderrTail().split('\n').slice(-3).join(' / ')}`);
    side.bulk ??= { na };
    side.read ??= { na };
    side.insert ??= { na };
  } finally {
    await server?.stop();
  }
  return side;
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
