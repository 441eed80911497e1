/**
 * Tideline benchmark harness — `npm run bench [-- --only fanout --quick]`.
 * Builds Tideline, starts every server it measures, drives them from separate load processes over real
 * sockets on 127.0.0.1, and prints one table (Tideline's figure, a peer's figure measured in the same run,
 * the ratio, the target) that it also writes to bench/results/latest.{json,md}. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { installExitHandlers, isExiting, liveChildren, onCleanup, ROOT, runCleanups } from './lib/children.js';
import { Context } from './lib/context.js';
import { parseOptions, type ScenarioName } from './lib/options.js';
import { ScratchDatabases } from './lib/scratch-db.js';
import { tidelineMissing } from './lib/server.js';
import { renderTable, type Row } from './lib/table.js';
import { coldstart } from './scenarios/coldstart.js';
import { durable } from './scenarios/durable.js';
import { fanout } from './scenarios/fanout.js';
import { jet } from './scenarios/jet.js';
import { live } from './scenarios/live.js';
import { memory } from './scenarios/memory.js';
import { projector } from './scenarios/projector.js';
import { sql } from './scenarios/sql.js';

const SCENARIO_FNS: Record<ScenarioName, (ctx: Context) => Promise<Row[]>> = { durable, fanout, memory, coldstart, projector, sql, jet, live };
const TITLES: Record<ScenarioName, string> = {
  durable: 'durable pushes/s',
  fanout: 'fan-out deliveries and latency',
  memory: 'memory',
  coldstart: 'cold start',
  projector: 'projector throughput',
  sql: 'SQL (Endb dialect): point reads, inserts, bulk insert',
  jet: 'JET streams',
  live: 'live queries (NSDb /ws-stream)',
};

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/**
 * Tideline is compiled into a private folder (the project's tsc config with --outDir) rather than dist/:
 * `npm run build` deletes dist/ first, and other people's test runs rebuild it all the time, which would
 * pull the server out from under a running bench (and ours would do the same to their tests).
 * With --no-build, the current dist/ is copied there instead. Returns a note when something went wrong.
 */
function prepareServer(distDir: string, build: boolean): string | undefined {
  rmSync(distDir, { recursive: true, force: true });
  if (!build) {
    if (!existsSync(join(ROOT, 'dist', 'main.js'))) return 'dist/main.js does not exist (--no-build)';
    cpSync(join(ROOT, 'dist'), distDir, { recursive: true });
    return undefined;
  }
  console.log(`building Tideline (tsc -p tsconfig.json --outDir ${relative(ROOT, distDir)})…`);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json', '--outDir', distDir], { cwd: ROOT, encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n');
  console.log(out.slice(-20).map((l) => `  ${l}`).join('\n'));
  return `the build failed (tsc exit ${r.status}, ${out.filter((l) => /error TS/.test(l)).length} TypeScript errors)`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  installExitHandlers();
  const startedAt = new Date();
  const t0 = performance.now();

  const scratch = new ScratchDatabases(opts.databaseUrl);
  const distDir = join(ROOT, 'bench', '.cache', `dist-${scratch.prefix}`);
  onCleanup(async () => rmSync(distDir, { recursive: true, force: true }));
  const buildNote = opts.tidelineCmd ? undefined : prepareServer(distDir, opts.build);

  let pgVersion: string | undefined;
  let pgError: string | undefined;
  try {
    pgVersion = await scratch.probe();
  } catch (error) {
    pgError = `${new URL(opts.databaseUrl).host}: ${(error as Error).message}`;
  }
  const ctx = new Context(opts, scratch, pgError, distDir);
  onCleanup(async () => ctx.removeTempDirs());
  onCleanup(() => scratch.dropAll());
  ctx.tidelineMissing = tidelineMissing(distDir, opts.tidelineCmd);
  if (buildNote) ctx.note(buildNote + (ctx.tidelineMissing ? '' : ' — measuring what tsc still emitted'));
  if (pgError) ctx.note(`PostgreSQL unavailable (${pgError}): PostgreSQL rows are n/a`);
  if (opts.tidelineCmd) ctx.note(`Tideline column measured with a stand-in: \`${opts.tidelineCmd}\``);
  if (opts.peerCork) ctx.note('bare ws peer run with --peer-cork (writes held until the end of each event-loop turn, as Tideline does)');

  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src']) !== '';
  console.log(
    `tideline bench — ${opts.quick ? 'QUICK, ' : ''}${opts.only.join(', ')}; ` +
      `${cpus().length} CPUs, node ${process.version}, PostgreSQL ${pgVersion ?? 'n/a'}, commit ${commit || '?'}${dirty ? ' (src modified)' : ''}`,
  );
  console.log(`server under test: ${ctx.tidelineCmd.join(' ')}${ctx.tidelineMissing ? ` — ${ctx.tidelineMissing}, Tideline rows will be n/a` : ''}`);
  console.log(`windows: ${opts.warmupMs / 1000} s warm-up + ${opts.measureMs / 1000} s measured; scratch databases ${scratch.prefix}_*\n`);

  const rows: Row[] = [];
  const timings: Record<string, number> = {};
  try {
    for (const name of opts.only) {
      if (isExiting()) break;
      console.log(`▶ ${TITLES[name]}`);
      const s0 = performance.now();
      try {
        rows.push(...(await SCENARIO_FNS[name](ctx)));
      } catch (error) {
        ctx.note(`${name}: scenario failed: ${(error as Error).stack ?? error}`);
        console.error(`  ${name} failed: ${(error as Error).message}`);
      }
      timings[name] = Math.round((performance.now() - s0) / 100) / 10;
      console.log(`  (${timings[name]} s)\n`);
    }
  } finally {
    await runCleanups();
  }

  // Interrupted: the signal handler is cleaning up and will exit; print nothing half-measured.
  if (isExiting()) return new Promise<never>(() => undefined);

  const table = renderTable(rows);
  const notes = ctx.notes.map((n) => `- ${clip(n.replace(/\s*\n\s*/g, ' ⏎ '), 700)}`);
  const elapsed = Math.round((performance.now() - t0) / 1000);
  console.log(table);
  if (notes.length) console.log(`\nnotes:\n${notes.join('\n')}`);
  console.log(`\n${elapsed} s in all${liveChildren() ? `; ${liveChildren()} children still alive!` : ''}`);

  if (opts.write) {
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const meta = {
      startedAt: startedAt.toISOString(),
      durationSeconds: elapsed,
      commit,
      srcModified: dirty,
      quick: opts.quick,
      scenarios: opts.only,
      fanoutCases: opts.cases,
      warmupMs: opts.warmupMs,
      measureMs: opts.measureMs,
      server: ctx.tidelineCmd.join(' '),
      standIn: ctx.standIn,
      peerCork: opts.peerCork,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMb: Math.round(totalmem() / 2 ** 20), node: process.version, postgres: pgVersion ?? null },
      scenarioSeconds: timings,
    };
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify({ ...meta, rows, notes: ctx.notes, details: ctx.details }, null, 2)}\n`);
    const md = [
      `# Tideline bench — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `${opts.quick ? '**Quick (smoke) run.** ' : ''}Commit \`${commit || '?'}\`${dirty ? ' (src modified)' : ''}; ` +
        `${meta.machine.cpus} × ${meta.machine.cpuModel ?? 'CPU'}, node ${process.version}, PostgreSQL ${pgVersion ?? 'n/a'}; ` +
        `${opts.warmupMs / 1000} s warm-up + ${opts.measureMs / 1000} s measured per scenario; scenarios: ${opts.only.join(', ')}; ${elapsed} s in all.`,
      '',
      table,
      '',
      ...(notes.length ? ['Notes:', '', ...notes, ''] : []),
      'Ratio = tideline ÷ peer. Rows are explained in [bench/README.md](../README.md); raw figures are in latest.json.',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'latest.md'), md);
    console.log('wrote bench/results/latest.json and bench/results/latest.md');
  }
}

main().then(
  () => process.exit(0),
  async (error) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    await runCleanups();
    process.exit(1);
  },
);
