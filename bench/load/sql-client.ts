/**
 * SQL load for the sql rows, against Tideline's Endb socket (`/sql`, JSON-RPC 2.0, lean client) or, as the
 * peer, PostgreSQL itself through `pg`:
 *   read    `connections` closed-loop clients, each with one point read in flight (a random existing id)
 *   insert  the same with single-row INSERTs of fresh ids
 *   bulk    `bulkRuns` times one statement of `bulkRows` rows: one `m: true` INSERT over one socket, or
 *           `COPY … FROM STDIN` on one pg connection (plain `pg`, as a Submittable: no pg-copy-streams)
 * Statements count when their answer arrives inside the window; latency is send → answer.
 */
import pg from 'pg';
import { nowMs, sleep, sleepUntil } from '../lib/clock.js';
import { contains, LeanSocket } from '../lib/lean-ws.js';
import { runLoadChild, type Window } from '../lib/load-protocol.js';
import { Histogram, type HistogramJson } from '../lib/stats.js';

export type SqlOp = 'read' | 'insert' | 'bulk';
export type SqlClientConfig = {
  target: 'tideline' | 'postgres';
  op: SqlOp;
  /** tideline: ws://127.0.0.1:<port>/sql */
  wsUrl?: string;
  /** postgres: the peer's database (tables `docs` and `ins`, see sql.ts) */
  pgUrl?: string;
  connections: number;
  /** read: ids 0 … readIds-1 exist in `docs`. */
  readIds: number;
  bulkRows: number;
  bulkRuns: number;
  /** bulk: stop repeating once this much time went into bulk runs. */
  bulkBudgetMs: number;
};
export type BulkRun = { rows: number; ms: number };
export type SqlClientResult = {
  completed: number;
  sent: number;
  errors: number;
  firstError?: string;
  /** reads answered with no row (should be 0) */
  empty: number;
  latency: HistogramJson;
  bulk: BulkRun[];
  closed: number;
};

/** The statements, as the two sides spell them: the Endb one over the socket, the hand-written one on PostgreSQL. */
export const SQL_STATEMENTS = {
  read: 'SELECT * FROM docs WHERE id = ?',
  insert: 'INSERT INTO ins (id, name, qty) VALUES (?, ?, ?)',
  bulk: 'INSERT INTO docs (id, name, qty) VALUES (?, ?, ?)',
  pgRead: 'SELECT id, doc FROM docs WHERE id = $1',
  pgInsert: 'INSERT INTO ins (id, doc) VALUES ($1, $2)',
  pgCopy: 'COPY docs (id, doc) FROM STDIN',
} as const;

const doc = (id: number) => ({ id, name: `item-${id}`, qty: id % 1000 });

/** `COPY … FROM STDIN` over plain pg: the client hands a Submittable the raw connection, as pg-copy-streams does. */
class CopyFromStdin implements pg.Submittable {
  callback?: (error: Error | null) => void;
  private error: Error | null = null;
  constructor(
    private readonly text: string,
    private readonly chunks: Buffer[],
  ) {}
  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: pg.Connection & { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }): void {
    for (const chunk of this.chunks) connection.sendCopyFromChunk(chunk);
    connection.endCopyFrom();
  }
  handleError(error: Error): void {
    this.error ??= error;
  }
  handleReadyForQuery(): void {
    this.callback?.(this.error);
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

function copyChunks(first: number, rows: number): Buffer[] {
  const chunks: Buffer[] = [];
  let lines: string[] = [];
  let bytes = 0;
  for (let id = first; id < first + rows; id++) {
    // COPY text format: tab-separated, backslash escaped (these documents hold no tabs, newlines or backslashes).
    const line = `${id}\t${JSON.stringify(doc(id))}\n`;
    lines.push(line);
    bytes += line.length;
    if (bytes >= 64 * 1024) {
      chunks.push(Buffer.from(lines.join('')));
      lines = [];
      bytes = 0;
    }
  }
  if (lines.length) chunks.push(Buffer.from(lines.join('')));
  return chunks;
}

function rpc(id: number, q: string, p: unknown, m = false): string {
  return `{"jsonrpc":"2.0","id":${id},"method":"sql","params":${JSON.stringify({ q, p, m })}}`;
}

runLoadChild<SqlClientConfig, SqlClientResult>(async (cfg) => {
  let window: Window | undefined;
  let completed = 0;
  let sent = 0;
  let errors = 0;
  let empty = 0;
  let closed = 0;
  let firstError: string | undefined;
  const latency = new Histogram();
  const bulk: BulkRun[] = [];
  const fail = (message: string) => {
    errors++;
    firstError ??= message.slice(0, 300);
  };
  /** Records one answer (an error frame is not a completed statement); whether to send the next. */
  const counted = (t0: number, ok = true) => {
    const now = nowMs();
    if (ok && window && now >= window.startMs && now < window.endMs) {
      completed++;
      latency.recordMs(now - t0);
    }
    return window !== undefined && now < window.endMs;
  };
  const result = (): SqlClientResult => ({ completed, sent, errors, firstError, empty, latency: latency.toJSON(), bulk, closed });
  const nextInsertId = (worker: number, n: number) => 1_000_000_000 + worker * 10_000_000 + n;
  const randomId = () => Math.floor(Math.random() * cfg.readIds);

  if (cfg.target === 'tideline') {
    const sockets = await Promise.all(Array.from({ length: cfg.op === 'bulk' ? 1 : cfg.connections }, () => LeanSocket.open(cfg.wsUrl!)));
    const close = () => Promise.all(sockets.map((s) => s.close())).then(() => undefined);
    if (cfg.op === 'bulk') {
      const ws = sockets[0];
      let answer: ((text: string) => void) | undefined;
      ws.onFrame = (buf, start, end) => answer?.(buf.toString('utf8', start, end));
      ws.onClose = () => answer?.('{"error":"socket closed"}');
      return {
        async run() {
          const spent = nowMs();
          for (let run = 0; run < cfg.bulkRuns && (run === 0 || nowMs() - spent < cfg.bulkBudgetMs); run++) {
            const first = run * cfg.bulkRows;
            const params = Array.from({ length: cfg.bulkRows }, (_, i) => {
              const d = doc(first + i);
              return [d.id, d.name, d.qty];
            });
            const frame = rpc(run + 1, SQL_STATEMENTS.bulk, params, true);
            const reply = new Promise<string>((resolve) => (answer = resolve));
            const t0 = nowMs();
            ws.send(frame);
            const text = await reply;
            const ms = nowMs() - t0;
            if (!text.includes(`"result":${cfg.bulkRows}`)) {
              fail(`bulk run ${run}: ${text}`);
              break;
            }
            bulk.push({ rows: cfg.bulkRows, ms });
          }
          return result();
        },
        close,
      };
    }
    const starters = sockets.map((ws, worker) => {
      let n = 0;
      let t0 = 0;
      const send = () => {
        sent++;
        t0 = nowMs();
        n++;
        if (cfg.op === 'read') ws.send(rpc(n, SQL_STATEMENTS.read, [randomId()]));
        else {
          const d = doc(nextInsertId(worker, n));
          ws.send(rpc(n, SQL_STATEMENTS.insert, [d.id, d.name, d.qty]));
        }
      };
      ws.onClose = () => closed++;
      ws.onFrame = (buf, start, end) => {
        const ok = !contains(buf, start, end, '"error"');
        if (!ok) fail(buf.toString('utf8', start, Math.min(end, start + 300)));
        else if (cfg.op === 'read' && contains(buf, start, end, '"@graph":[]')) empty++;
        if (counted(t0, ok)) send();
      };
      return send;
    });
    return {
      info: { sockets: sockets.length },
      async run(w) {
        window = w;
        for (const start of starters) start();
        await sleepUntil(w.endMs);
        await sleep(300); // answers still in flight land outside the window
        return result();
      },
      close,
    };
  }

  // The peer: PostgreSQL through pg.
  if (cfg.op === 'bulk') {
    const client = new pg.Client({ connectionString: cfg.pgUrl });
    await client.connect();
    return {
      async run() {
        const spent = nowMs();
        for (let run = 0; run < cfg.bulkRuns && (run === 0 || nowMs() - spent < cfg.bulkBudgetMs); run++) {
          const copy = new CopyFromStdin(SQL_STATEMENTS.pgCopy, copyChunks(run * cfg.bulkRows, cfg.bulkRows));
          const t0 = nowMs();
          try {
            await new Promise<void>((resolve, reject) => {
              copy.callback = (error) => (error ? reject(error) : resolve());
              client.query(copy);
            });
          } catch (error) {
            fail(`COPY run ${run}: ${(error as Error).message}`);
            break;
          }
          bulk.push({ rows: cfg.bulkRows, ms: nowMs() - t0 });
        }
        return result();
      },
      close: () => client.end(),
    };
  }
  const pool = new pg.Pool({ connectionString: cfg.pgUrl, max: cfg.connections });
  // Open every connection before the window (a pool connects lazily).
  const held = await Promise.all(Array.from({ length: cfg.connections }, () => pool.connect()));
  held.forEach((c) => c.release());
  return {
    info: { connections: cfg.connections },
    async run(w) {
      window = w;
      await Promise.all(
        Array.from({ length: cfg.connections }, async (_, worker) => {
          for (let n = 1; ; n++) {
            sent++;
            const t0 = nowMs();
            let ok = true;
            try {
              if (cfg.op === 'read') {
                const r = await pool.query(SQL_STATEMENTS.pgRead, [randomId()]);
                if (r.rows.length === 0) empty++;
              } else {
                const d = doc(nextInsertId(worker, n));
                await pool.query(SQL_STATEMENTS.pgInsert, [d.id, JSON.stringify(d)]);
              }
            } catch (error) {
              ok = false;
              fail((error as Error).message);
            }
            if (!counted(t0, ok)) break;
          }
        }),
      );
      return result();
    },
    close: () => pool.end(),
  };
});
