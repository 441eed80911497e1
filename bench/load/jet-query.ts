/**
 * Live-query evaluation, in one process: the JSONJet pipeline
 *   s | where v > 0 | select {k, v} | summarize {n: count(), total: sum(v)} by k over w = tumbling_window(1s)
 * parsed by Tideline's JET parser (`parseJet`, statement.pipeline) and run by the query engine
 * (`instantiate(plan).push(record, {offset, time})`), against a hand-written JS loop doing the same filter,
 * projection and per-key count/sum over 1 s tumbling windows of commit time (a Map per window).
 * The same pre-built records feed both; runs alternate, the median µs/record of each is reported, and the
 * two outputs (window count, Σn, Σtotal) are compared as a check that they computed the same thing.
 *
 * Modules come from `moduleRoot` (the compiled Tideline the bench runs, `<dist>/core/query/index.js`), or
 * from src/ (under tsx) when it is not given.
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { nowMs } from '../lib/clock.js';
import { runLoadChild } from '../lib/load-protocol.js';
import type { PipelinePlan, PipelineRuntime, RuntimeContext } from '../../src/core/query/index.js';

export const JET_QUERY = 's | where v > 0 | select {k, v} | summarize {n: count(), total: sum(v)} by k over w = tumbling_window(1s)';

export type JetQueryConfig = { records: number; runs: number; keys: number; recordsPerSecOfCommitTime: number; moduleRoot?: string };
export type Check = { windows: number; n: number; total: number };
export type JetQueryResult = {
  records: number;
  engineUsPerRecord: number[];
  loopUsPerRecord: number[];
  engine: Check;
  loop: Check;
  from: string;
};

type QueryModule = { instantiate: (plan: PipelinePlan, ctx?: RuntimeContext) => PipelineRuntime };
type ParserModule = { parseJet: (text: string) => Array<{ kind: string; pipeline?: PipelinePlan }> };

type Rec = { k: string; v: number; x: string };

async function load(root?: string): Promise<{ q: QueryModule; p: ParserModule; from: string }> {
  if (root) {
    const q = (await import(pathToFileURL(resolve(root, 'core/query/index.js')).href)) as QueryModule;
    const p = (await import(pathToFileURL(resolve(root, 'dialects/jet/parser/index.js')).href)) as ParserModule;
    return { q, p, from: root };
  }
  const q = (await import('../../src/core/query/index.js')) as QueryModule;
  const p = (await import('../../src/dialects/jet/parser/index.js')) as ParserModule;
  return { q, p, from: 'src (tsx)' };
}

runLoadChild<JetQueryConfig, JetQueryResult>(async (cfg) => {
  const { q, p, from } = await load(cfg.moduleRoot);
  const [statement] = p.parseJet(JET_QUERY);
  if (!statement?.pipeline) throw new Error(`parseJet gave no pipeline (kind ${statement?.kind})`);
  const plan = statement.pipeline;

  const keys = Array.from({ length: cfg.keys }, (_, i) => `sensor-${i}`);
  const records: Rec[] = new Array(cfg.records);
  for (let i = 0; i < cfg.records; i++) records[i] = { k: keys[i % cfg.keys], v: (i % 7) - 1, x: 'payload' };
  const msPerRecord = 1000 / cfg.recordsPerSecOfCommitTime;

  /** The engine, as a live query feeds it: one push per record with its offset and commit time. */
  const runEngine = (n: number): Check => {
    const rt = q.instantiate(plan);
    const check: Check = { windows: 0, n: 0, total: 0 };
    const take = (outs: ReturnType<PipelineRuntime['push']>) => {
      for (const o of outs) {
        const r = o.record as { n: number; total: number };
        check.windows++;
        check.n += r.n;
        check.total += r.total;
      }
    };
    for (let i = 0; i < n; i++) {
      const outs = rt.push(records[i], { offset: i + 1, time: i * msPerRecord });
      if (outs.length) take(outs);
    }
    take(rt.flush());
    return check;
  };

  /** Hand-written: the same where / select / summarize-by-k over 1 s tumbling windows of commit time. */
  const runLoop = (n: number): Check => {
    const check: Check = { windows: 0, n: 0, total: 0 };
    let groups = new Map<string, { n: number; total: number; k: string }>();
    let windowEnd = -Infinity;
    const emit = () => {
      for (const g of groups.values()) {
        check.windows++;
        check.n += g.n;
        check.total += g.total;
      }
      groups = new Map();
    };
    for (let i = 0; i < n; i++) {
      const time = i * msPerRecord;
      const r = records[i];
      if (!(r.v > 0)) continue;
      const row = { k: r.k, v: r.v };
      if (time >= windowEnd) {
        if (groups.size) emit();
        windowEnd = (Math.floor(time / 1000) + 1) * 1000;
      }
      let g = groups.get(row.k);
      if (!g) groups.set(row.k, (g = { n: 0, total: 0, k: row.k }));
      g.n++;
      g.total += row.v;
    }
    emit();
    return check;
  };

  const time = (fn: (n: number) => Check, n: number): { us: number; check: Check } => {
    const t0 = nowMs();
    const check = fn(n);
    return { us: ((nowMs() - t0) * 1000) / n, check };
  };

  return {
    info: { from },
    async run() {
      // Warm both up (JIT) on a tenth of the records, then alternate the measured runs.
      time(runEngine, Math.ceil(cfg.records / 10));
      time(runLoop, Math.ceil(cfg.records / 10));
      const engineUsPerRecord: number[] = [];
      const loopUsPerRecord: number[] = [];
      let engine: Check = { windows: 0, n: 0, total: 0 };
      let loop: Check = engine;
      for (let r = 0; r < cfg.runs; r++) {
        const e = time(runEngine, cfg.records);
        const l = time(runLoop, cfg.records);
        engineUsPerRecord.push(e.us);
        loopUsPerRecord.push(l.us);
        engine = e.check;
        loop = l.check;
      }
      return { records: cfg.records, engineUsPerRecord, loopUsPerRecord, engine, loop, from };
    },
    close: async () => undefined,
  };
});
