import { coerce, type Aggregator } from './aggregates.js';
import { JsGen } from './codegen.js';
import { compileExpression, type Compiled, type Env } from './compile.js';
import type { AggregateFn, Expression } from './plan.js';

/** Evaluates every aggregate's argument over a record into `out` (`true` for count(), which counts records). */
export type ArgsEvaluator = (record: unknown, env: Env, out: unknown[]) => void;

export function closureArgs(args: Array<Expression | null>, maxDepth: number): ArgsEvaluator {
  const compiled: Array<Compiled | null> = args.map((a) => (a === null ? null : compileExpression(a, { maxDepth })));
  return (record, env, out) => {
    for (let i = 0; i < compiled.length; i++) {
      const a = compiled[i];
      out[i] = a === null ? true : a(record, env);
    }
  };
}

/** closureArgs as one generated function. */
export function generatedArgs(args: Array<Expression | null>, maxDepth: number): ArgsEvaluator {
  const closures = closureArgs(args, maxDepth); // plan errors are raised here, exactly as without generation
  try {
    const gen = new JsGen({ maxDepth });
    const body = args.map((a, i) => `out[${i}] = ${a === null ? 'true' : gen.expr(a, 'r')};`).join('\n');
    return gen.build<ArgsEvaluator>('r, env, out', body);
  } catch {
    return closures;
  }
}

/** Adds one record's aggregate arguments (`values[i]`, `true` for count()) to a group's states (`aggs[i]`). */
export type Adder = (aggs: unknown[], values: unknown[], limits: { maxDistinct: number }) => void;

export function loopAdder(aggregators: Aggregator[]): Adder {
  return (aggs, values, limits) => {
    for (let i = 0; i < aggregators.length; i++) aggs[i] = aggregators[i].add(aggs[i], values[i], limits);
  };
}

/**
 * Source that adds one record's aggregate arguments to a group's states, as loopAdder does: count, count_if,
 * sum and avg inline (the states stay the aggregators' own, so results and snapshots are unchanged); every other
 * aggregate calls its `add`. `state(i)` and `value(i)` are the source of state i and argument i.
 */
export function adderSource(gen: JsGen, fns: AggregateFn[], aggregators: Aggregator[], state: (i: number) => string, value: (i: number) => string, limits: string): string {
  return fns
    .map((fn, i) => {
      const st = state(i);
      const v = value(i);
      switch (fn) {
        case 'count':
          return `if (${v} != null) ${st} = ${st} + 1;`;
        case 'count_if':
          return `if (${v}) ${st} = ${st} + 1;`;
        case 'sum':
        case 'avg':
          // Kahan summation exactly as aggregates.ts kahanAdd (coerce skips null, NaN and non-numeric strings).
          return [
            `{ const v = ${v}; const x = typeof v === 'number' ? v : ${gen.capture(coerce)}(v);`,
            `  if (x !== null && x === x) { const s = ${st}; const y = x - s[1]; const t = s[0] + y; s[1] = t - s[0] - y; s[0] = t; s[2]++; } }`,
          ].join('\n');
        default:
          return `${st} = ${gen.capture(aggregators[i])}.add(${st}, ${v}, ${limits});`;
      }
    })
    .join('\n');
}

/** loopAdder as one generated function. */
export function generatedAdder(fns: AggregateFn[], aggregators: Aggregator[]): Adder {
  try {
    const gen = new JsGen({ maxDepth: 0 });
    const body = adderSource(gen, fns, aggregators, (i) => `aggs[${i}]`, (i) => `values[${i}]`, 'limits');
    return gen.build<Adder>('aggs, values, limits', body);
  } catch {
    return loopAdder(aggregators);
  }
}
