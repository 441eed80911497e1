/**
 * Row 4 — cold start: time from spawn to the first answered HTTP request (GET /health, or POST /new when
 * /health is 404), polling every 5 ms on a port chosen in advance. Tideline on PostgreSQL (fresh database,
 * then existing) and on PGlite (fresh data folder, then existing). Peer: the floor — plain Node opening
 * the same database (pg / PGlite, SELECT 1) and answering /health (bench/peers/cold-floor.mjs).
 */
import { request } from 'node:http';
import { ROOT, spawnTracked, stopProcess } from '../lib/children.js';
import { sleep } from '../lib/clock.js';
import { Context, Unavailable } from '../lib/context.js';
import { freePort } from '../lib/proc.js';
import type { Backend } from '../lib/server.js';
import { median } from '../lib/stats.js';
import { evaluate, type Row } from '../lib/table.js';

const FLOOR_CMD = [process.execPath, 'bench/peers/cold-floor.mjs'];
const TIMEOUT_MS = 60_000;

function probe(port: number, method: 'GET' | 'POST', path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Spawns `cmd` and returns ms until it answers an HTTP request with 2xx; stops it afterwards. */
export async function timeToFirstResponse(cmd: string[], backend: Backend): Promise<number> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.DATA_DIR;
  delete env.NODE_OPTIONS;
  if (backend.kind === 'postgres') env.DATABASE_URL = backend.url;
  if (backend.kind === 'pglite') env.DATA_DIR = backend.dataDir;
  const t0 = performance.now();
  const child = spawnTracked(cmd[0], cmd.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (stderr = (stderr + c).slice(-2000)));
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = String(signal ?? code)));
  try {
    let path = '/health';
    let method: 'GET' | 'POST' = 'GET';
    while (performance.now() - t0 < TIMEOUT_MS) {
      const status = await probe(port, method, path);
      if (status >= 200 && status < 300) return performance.now() - t0;
      if (status === 404 && path === '/health') [method, path] = ['POST', '/new'];
      if (exited) throw new Unavailable('server did not start', `exited (${exited}) before answering${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`);
      await sleep(5);
    }
    throw new Unavailable('server did not start', `no 2xx answer within ${TIMEOUT_MS / 1000} s`);
  } finally {
    await stopProcess(child, 5000);
  }
}

/** fresh: a new database / folder for every start; existing: one, first initialised by an uncounted start. */
type Variant = { label: string; fresh: boolean; backend: (who: Who) => Promise<Backend> };
type Who = 'tideline' | 'floor';

export async function coldstart(ctx: Context): Promise<Row[]> {
  const runs = ctx.opts.coldRuns;
  let n = 0;
  const variants: Variant[] = [
    { label: 'PostgreSQL, fresh database (migrates)', fresh: true, backend: async (who) => ({ kind: 'postgres', url: await ctx.postgres(`cold_${who}_${n++}`) }) },
    { label: 'PostgreSQL, existing database', fresh: false, backend: async (who) => ({ kind: 'postgres', url: await ctx.postgres(`cold_${who}_existing`) }) },
    { label: 'PGlite, fresh data folder', fresh: true, backend: async (who) => ({ kind: 'pglite', dataDir: ctx.tempDir(`${who}-fresh`) }) },
    { label: 'PGlite, existing data folder', fresh: false, backend: async (who) => ({ kind: 'pglite', dataDir: ctx.tempDir(`${who}-existing`) }) },
  ];

  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  for (const v of variants) {
    const measure = async (who: Who): Promise<{ ms: number; all: number[] } | { na: string }> => {
      try {
        if (who === 'tideline' && ctx.tidelineMissing) throw new Unavailable('server did not start', ctx.tidelineMissing);
        const cmd = who === 'tideline' ? ctx.tidelineCmd : FLOOR_CMD;
        const all: number[] = [];
        const shared = v.fresh ? undefined : await v.backend(who);
        if (shared) await timeToFirstResponse(cmd, shared); // initialise it; not counted
        for (let i = 0; i < runs; i++) all.push(await timeToFirstResponse(cmd, shared ?? (await v.backend(who))));
        return { ms: median(all), all };
      } catch (error) {
        return { na: ctx.na(error, `cold start (${v.label}, ${who})`) };
      }
    };
    const t = await measure('tideline');
    const f = await measure('floor');
    details[v.label] = { tideline: t, floor: f };
    ctx.log(`${v.label}: tideline ${'na' in t ? t.na : `${Math.round(t.ms)} ms`}, floor ${'na' in f ? f.na : `${Math.round(f.ms)} ms`}`);
    const tv = 'na' in t ? null : t.ms;
    const fv = 'na' in f ? null : f.ms;
    const ratio = tv !== null && fv ? tv / fv : null;
    rows.push({
      section: 'coldstart', scenario: `cold start: ${v.label}${runs > 1 ? ` (median of ${runs})` : ''}`, unit: 'ms',
      tideline: tv, na: 'na' in t ? t.na : undefined, peer: 'plain node + same db (floor)', peerValue: fv, peerNa: 'na' in f ? f.na : undefined,
      ratio, target: { kind: 'none' }, met: evaluate({ kind: 'none' }, tv, ratio),
    });
  }
  ctx.details.coldstart = details;
  return rows;
}
