import { generateExpression, JsGen } from './codegen.js';
import type { Env } from './compile.js';
import type { Next, OpRuntime, RecordMeta } from './operator.js';
import type { Expression, ObjectEntry, Operator } from './plan.js';
import type { StepRecord } from './summarize-step.js';

export type Report = (error: unknown, meta: RecordMeta) => void;

/** Operators that keep no state and pass at most one record on: a run of them can be one generated function. */
export const isStateless = (op: Operator): boolean => op.op === 'where' || op.op === 'select' || op.op === 'insert_into';

export interface StatelessRun {
  operators: Operator[];
  /** The run is operators[from..to); operators[to] is stateful, or the pipeline's end when to === operators.length. */
  from: number;
  to: number;
  env: Env;
  maxDepth: number;
  sink: (stream: string, record: unknown) => void;
  /** Reports an error of operator i (rethrows when the runtime has no onError). */
  reports: Report[];
  /** operators[to] and the stage after it; or, at the end, the pipeline's collector. */
  tail: { op: OpRuntime; next: Next } | { collect: Next };
}

/**
 * A run of where / select / insert_into as one generated stage: the record goes through every condition and
 * projection of the run, then straight into the operator after it (its own generated step when it has one,
 * else its push), with no closure or try per operator. Each operator was compiled to closures already (its plan
 * errors raised there); this is a second form of the same run, with the same outputs and errors: an error of
 * operator i is reported at i, and when that report throws, at i-1, and so on, as the nested per-stage catches
 * would. Returns null when the run cannot be generated (the caller keeps its per-operator stages).
 */
export function fuseStateless(run: StatelessRun): Next | null {
  try {
    // A select whose fields only feed the summarize step after it need not build its record: try that first.
    return (lazySelect(run) ? generateRun(run, true) : null) ?? generateRun(run, false);
  } catch {
    return null;
  }
}

/** The run ends with a select of plain fields (or primitive literals) and a stateful operator follows it. */
function lazySelect(run: StatelessRun): boolean {
  const last = run.to > run.from ? run.operators[run.to - 1] : undefined;
  if (!last || last.op !== 'select' || !('op' in run.tail) || !run.tail.op.generatedStep) return false;
  const p = last.projection;
  return (
    p.kind === 'object' &&
    p.entries.every(
      (en) =>
        en.kind === 'property' &&
        en.key !== '__proto__' &&
        ((en.value.kind === 'field' && en.value.path.length > 0) || (en.value.kind === 'literal' && (en.value.value === null || typeof en.value.value !== 'object'))),
    )
  );
}

/** The generated stage; with `lazy`, null when the step after all needs the selected record itself. */
function generateRun(run: StatelessRun, lazy: boolean): Next | null {
  const { operators, from, to, tail } = run;
  const gen = new JsGen({ maxDepth: run.maxDepth });
  const lines = [`let st = ${from};`, 'try {', `const env = ${gen.capture(run.env)};`];
  let rec = 'r';
  let record: StepRecord = { rec };
  for (let i = from; i < to; i++) {
    const op = operators[i];
    if (i > from) lines.push(`  st = ${i};`);
    if (op.op === 'where') {
      lines.push(`  if (!${gen.expr(op.condition, rec)}) return;`);
    } else if (op.op === 'select' && lazy && i === to - 1) {
      record = virtualSelect(gen, op.projection, rec, run, lines);
    } else if (op.op === 'select') {
      const out = gen.local('r');
      lines.push(`  const ${out} = ${gen.expr(op.projection, rec)};`, `  if (${out} === undefined) return;`);
      rec = out;
      record = { rec };
    } else if (op.op === 'insert_into') {
      lines.push(`  ${gen.capture(run.sink)}(${JSON.stringify(op.stream)}, ${gen.record(rec)});`);
    } else return null;
  }
  if ('op' in tail) {
    lines.push(`  st = ${to};`);
    const step = tail.op.generatedStep?.(gen, record, tail.next) ?? null;
    if (lazy && (step === null || gen.recordUsed(record.rec))) return null;
    if (step !== null) lines.push(step);
    else if (from === to) return null; // nothing to fuse
    else lines.push(`  ${gen.capture(tail.op)}.push(${rec}, meta, ${gen.capture(tail.next)});`);
  } else {
    lines.push(`  ${gen.capture(tail.collect)}(${rec}, meta);`);
  }
  lines.push(`} catch (e) {`, `  ${gen.capture(failFrom(run.reports, from))}(e, meta, st);`, '}');
  return gen.build<Next>('r, meta', lines.join('\n'));
}

/**
 * `select {a: x, b: y.z, c: 1}` over `raw`, not built: each value in a local (in order, as the object literal
 * would evaluate them), the record a virtual one over those locals, and its projection kept for when a group's
 * last record is read. Field reads and primitive literals never throw, so nothing is lost by not building it.
 */
function virtualSelect(gen: JsGen, projection: Expression, raw: string, run: StatelessRun, lines: string[]): StepRecord {
  const entries = (projection as Extract<Expression, { kind: 'object' }>).entries as Array<Extract<ObjectEntry, { kind: 'property' }>>;
  const fields = new Map<string, string>();
  const values = new Map<string, Expression>();
  for (const en of entries) values.set(en.key, en.value); // a repeated key: the last value wins, as in the object
  for (const [key, value] of values) {
    const local = gen.local('$p');
    lines.push(`  const ${local} = ${gen.expr(value, raw)};`);
    fields.set(key, local);
  }
  const rec = gen.local('$virtual');
  gen.virtual(rec, fields);
  const compiled = generateExpression(projection, { maxDepth: run.maxDepth });
  const env = run.env;
  return { rec, raw: gen.record(raw), project: (r) => compiled(r, env) };
}

/** The nested catches of per-operator stages, unrolled: report at `at`; a report that throws goes one stage up. */
function failFrom(reports: Report[], from: number): (error: unknown, meta: RecordMeta, at: number) => void {
  return (error, meta, at) => {
    let e = error;
    for (let i = at; i >= from; i--) {
      try {
        reports[i](e, meta);
        return;
      } catch (thrown) {
        e = thrown;
      }
    }
    throw e;
  };
}
