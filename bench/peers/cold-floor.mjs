// Peer for the cold-start row: the floor of "a Node process that opens the same database and answers
// HTTP". Plain Node (no tsx, no framework): loads pg or PGlite, runs SELECT 1, then serves GET /health.
// Env: PORT, HOST, DATABASE_URL (PostgreSQL) or DATA_DIR (PGlite in DATA_DIR/pglite, like Tideline).
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

let close;
if (process.env.DATABASE_URL) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  await pool.query('SELECT 1');
  close = () => pool.end();
} else {
  const { PGlite } = await import('@electric-sql/pglite');
  const dir = resolve(join(process.env.DATA_DIR ?? './data', 'pglite'));
  mkdirSync(dir, { recursive: true });
  const db = new PGlite(dir);
  await db.query('SELECT 1');
  close = () => db.close();
}

const host = process.env.HOST ?? '127.0.0.1';
const server = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end('{"status":"ok"}');
});
server.listen(Number(process.env.PORT ?? 0), host, () => {
  process.stdout.write(`cold-floor: listening on http://${host}:${server.address().port}\n`);
});
const stop = async () => {
  server.close();
  await close().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
