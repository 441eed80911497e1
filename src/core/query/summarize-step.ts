import type { Aggregator } from './aggregates.js';
import { adderSource } from './codegen-aggregates.js';
import type { JsGen } from './codegen.js';
import type { Env } from './compile.js';
import type { Next } from './operator.js';
import type { AggregateFn, Expression } from './plan.js';

/** What the generated step of a tumbling summarize reads and writes on its runtime (summarize.ts). */
export interface TumblingHost {
  hasWatermark: boolean;
  watermarkValue: number;
  earliestEnd: number;
  seen: number;
  current: unknown;
  windows: Map<number, unknown>;
  closeFixed(until: number, meta: unknown, next: Next): void;
  varsOf(id: number, start: number, end: number): unknown;
  tumblingGroup(win: unknown, id: number, start: number, end: number, keyValue: unknown, record: unknown): unknown;
  checkedPosition(value: unknown): number;
}

export interface TumblingStepSpec {
  host: TumblingHost;
  env: Env;
  limits: { maxDistinct: number };
  size: number;
  measure: 'count' | 'arrival' | { value: Expression };
  by: Expression[];
  /** Argument of each aggregate, null for count(). */
  args: Array<Expression | null>;
  fns: AggregateFn[];
  aggregators: Aggregator[];
  /** The stage after the summarize. */
  next: Next;
}

/**
 * How the step reads its record: `rec`, an identifier holding it; or a record a select would have built
 * (`rec` is virtual, see JsGen.virtual), kept as the select's input `raw` and its `project`ion of it, evaluated
 * only when the group's last record is read (Group.pending).
 */
export type StepRecord = { rec: string } | { rec: string; raw: string; project: (raw: unknown) => unknown };

/**
 * Source of SummarizeRuntime.pushTumbling for the record in identifier `rec` (with `meta` in scope), step for
 * step in the same order, so its outputs, errors and state are the same: the window's bookkeeping, the group
 * key and the aggregate arguments inline, the group found through the window's byValue cache, the aggregate
 * updates inline; a new window or group goes through the runtime's own tumblingGroup. The block declares its own
 * `env` (the summarize's); `return` in it means the record is done (late for a closed window).
 */
export function tumblingStepSource(gen: JsGen, spec: TumblingStepSpec, record: StepRecord): string {
  const rec = record.rec;
  const last = 'raw' in record ? record.raw : gen.record(rec);
  const rt = gen.capture(spec.host);
  const next = gen.capture(spec.next);
  const size = gen.literal(spec.size);
  const byCount = spec.measure === 'count';
  const lines = [`{`, `const env = ${gen.capture(spec.env)};`];
  if (spec.measure === 'count') lines.push(`const $pos = ${rt}.seen;`);
  else if (spec.measure === 'arrival') lines.push(`const $pos = meta.time;`);
  else lines.push(`env.vars = null;`, `const $pos = ${rt}.checkedPosition(${gen.expr(spec.measure.value, rec)});`);
  if (!byCount) {
    lines.push(
      `if (!${rt}.hasWatermark || $pos > ${rt}.watermarkValue) {`,
      `  ${rt}.hasWatermark = true;`,
      `  ${rt}.watermarkValue = $pos;`,
      `  if ($pos >= ${rt}.earliestEnd) ${rt}.closeFixed($pos, meta, ${next});`,
      `}`,
    );
  }
  lines.push(`const $k = Math.floor($pos / ${size});`, `const $start = $k * ${size};`, `const $end = $start + ${size};`);
  if (!byCount) lines.push(`if ($end <= ${rt}.watermarkValue) return;`);
  lines.push(
    `const $id = ${byCount ? '$k' : '$start'};`,
    `const $cur = ${rt}.current;`,
    `const $win = $cur !== undefined && $cur.id === $id ? $cur : ${rt}.windows.get($id);`,
    `env.vars = $win ? ($win.vars ??= ${rt}.varsOf($id, $start, $end)) : ${rt}.varsOf($id, $start, $end);`,
    `let $g;`,
  );
  if (spec.by.length === 1) {
    lines.push(`const $kv = ${gen.expr(spec.by[0], rec)};`, `if ($kv === null || typeof $kv !== 'object') $g = $win?.byValue?.get($kv);`);
  } else if (spec.by.length > 1) {
    lines.push(`const $kv = [${spec.by.map((b) => gen.expr(b, rec)).join(', ')}];`);
  } else lines.push(`const $kv = undefined;`);
  spec.args.forEach((a, i) => {
    if (a !== null) lines.push(`const $a${i} = ${gen.expr(a, rec)};`);
  });
  lines.push(
    `if ($g === undefined) $g = ${rt}.tumblingGroup($win, $id, $start, $end, $kv, ${last});`,
    `else ${rt}.current = $win;`,
    `const $aggs = $g.aggs;`,
    adderSource(gen, spec.fns, spec.aggregators, (i) => `$aggs[${i}]`, (i) => (spec.args[i] === null ? 'true' : `$a${i}`), gen.capture(spec.limits)),
    `$g.last = ${last};`,
  );
  if ('raw' in record) lines.push(`$g.pending = ${gen.capture(record.project)};`);
  if (byCount) lines.push(`${rt}.seen++;`, `${rt}.closeFixed(${rt}.seen, meta, ${next});`);
  lines.push('}');
  return lines.join('\n');
}
