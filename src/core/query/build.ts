import type { AggregateFn, BinaryOp, Expression, JsonValue, ObjectEntry } from './plan.js';

/** Small builders for plan expressions (for dialect compilers and tests). */
export const lit = (value: JsonValue): Expression => ({ kind: 'literal', value });
export const field = (path: string): Expression => ({ kind: 'field', path: path.split('.') });
export const v = (name: string): Expression => ({ kind: 'var', name });
export const lookupRef = (name: string): Expression => ({ kind: 'lookup', name });
export const bin = (op: BinaryOp, left: Expression, right: Expression): Expression => ({ kind: 'binary', op, left, right });
export const call = (name: string, ...args: Expression[]): Expression => ({ kind: 'call', name, args });
export const agg = (fn: AggregateFn, ...args: Expression[]): Expression => ({ kind: 'aggregate', fn, args });
export const arr = (...items: Expression[]): Expression => ({ kind: 'array', items });
/** `obj({a: expr}, '...*', ['...', expr], '-b')` */
export function obj(...parts: Array<Record<string, Expression> | '...*' | `-${string}` | ['...', Expression]>): Expression {
  const entries: ObjectEntry[] = [];
  for (const p of parts) {
    if (p === '...*') entries.push({ kind: 'spreadRecord' });
    else if (typeof p === 'string') entries.push({ kind: 'exclude', key: p.slice(1) });
    else if (Array.isArray(p)) entries.push({ kind: 'spread', value: p[1] });
    else for (const [key, value] of Object.entries(p)) entries.push({ kind: 'property', key, value });
  }
  return { kind: 'object', entries };
}
