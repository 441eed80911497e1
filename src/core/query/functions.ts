import { EvalFailure } from './errors.js';

/**
 * Scalar functions. JSONJet registers exp, pi, add, sub, mul, div, mod, pow, neg, abs, eq, ne, lt, le, gt, ge,
 * min, max, and, or, not (packages/core/src/core/register-functions.js) and has `iff` in its grammar; the rest are
 * the usual KQL-style helpers. Functions never throw on odd input: a value of the wrong type gives null.
 */
export interface ScalarFunction {
  minArgs: number;
  maxArgs: number; // Infinity for variadic
  fn: (args: unknown[]) => unknown;
}

const num = (v: unknown): number | null => (typeof v === 'number' && !Number.isNaN(v) ? v : null);
const math1 = (f: (x: number) => number): ScalarFunction => ({
  minArgs: 1,
  maxArgs: 1,
  fn: ([x]) => {
    const n = num(x);
    return n === null ? null : f(n);
  },
});
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function toStringValue(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function toNumberValue(v: unknown): number | null {
  if (typeof v === 'number') return Number.isNaN(v) ? null : v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isNaN(n) ? null : n;
  }
  return null;
}

function reduceNumbers(args: unknown[], f: (a: number, b: number) => number, empty: number): unknown {
  if (args.length === 0) return empty;
  let acc = args[0] as number;
  for (let i = 1; i < args.length; i++) acc = f(acc, args[i] as number);
  return acc;
}

export const FUNCTIONS: Record<string, ScalarFunction> = {
  // control (iff is compiled lazily; this entry is for arity checks)
  iff: { minArgs: 3, maxArgs: 3, fn: ([c, a, b]) => (c ? a : b) },
  coalesce: { minArgs: 1, maxArgs: Infinity, fn: (args) => args.find((a) => a !== null && a !== undefined) ?? null },
  isnull: { minArgs: 1, maxArgs: 1, fn: ([v]) => v === null || v === undefined },
  isnotnull: { minArgs: 1, maxArgs: 1, fn: ([v]) => v !== null && v !== undefined },
  isempty: { minArgs: 1, maxArgs: 1, fn: ([v]) => v === null || v === undefined || v === '' },
  isnotempty: { minArgs: 1, maxArgs: 1, fn: ([v]) => !(v === null || v === undefined || v === '') },
  // arithmetic (JSONJet names)
  add: { minArgs: 0, maxArgs: Infinity, fn: (a) => reduceNumbers(a, (x, y) => x + y, 0) },
  sub: { minArgs: 0, maxArgs: Infinity, fn: (a) => reduceNumbers(a, (x, y) => x - y, 0) },
  mul: { minArgs: 0, maxArgs: Infinity, fn: (a) => reduceNumbers(a, (x, y) => x * y, 1) },
  div: { minArgs: 0, maxArgs: Infinity, fn: (a) => reduceNumbers(a, (x, y) => x / y, 1) },
  mod: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => (a as number) % (b as number) },
  neg: { minArgs: 1, maxArgs: 1, fn: ([a]) => -(a as number) },
  // math
  abs: math1(Math.abs),
  round: {
    minArgs: 1,
    maxArgs: 2,
    fn: ([x, d]) => {
      const n = num(x);
      if (n === null) return null;
      const p = num(d) ?? 0;
      const f = 10 ** p;
      return Math.round(n * f) / f;
    },
  },
  floor: math1(Math.floor),
  ceil: math1(Math.ceil),
  sqrt: math1(Math.sqrt),
  exp: math1(Math.exp),
  log: math1(Math.log),
  log10: math1(Math.log10),
  pow: {
    minArgs: 2,
    maxArgs: 2,
    fn: ([a, b]) => {
      const x = num(a);
      const y = num(b);
      return x === null || y === null ? null : x ** y;
    },
  },
  pi: { minArgs: 0, maxArgs: 0, fn: () => Math.PI },
  min: { minArgs: 1, maxArgs: Infinity, fn: (a) => Math.min(...(a as number[])) },
  max: { minArgs: 1, maxArgs: Infinity, fn: (a) => Math.max(...(a as number[])) },
  // comparison & logic (JSONJet names)
  eq: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => a === b },
  ne: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => a !== b },
  lt: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => (a as number) < (b as number) },
  le: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => (a as number) <= (b as number) },
  gt: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => (a as number) > (b as number) },
  ge: { minArgs: 2, maxArgs: 2, fn: ([a, b]) => (a as number) >= (b as number) },
  and: { minArgs: 0, maxArgs: Infinity, fn: (a) => a.every((x) => !!x) },
  or: { minArgs: 0, maxArgs: Infinity, fn: (a) => a.some((x) => !!x) },
  not: { minArgs: 1, maxArgs: 1, fn: ([a]) => !a },
  // types
  tostring: { minArgs: 1, maxArgs: 1, fn: ([v]) => toStringValue(v) },
  tonumber: { minArgs: 1, maxArgs: 1, fn: ([v]) => toNumberValue(v) },
  tobool: {
    minArgs: 1,
    maxArgs: 1,
    fn: ([v]) => (typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : v == null ? null : !!v),
  },
  typeof: {
    minArgs: 1,
    maxArgs: 1,
    fn: ([v]) => (v === null || v === undefined ? 'null' : Array.isArray(v) ? 'array' : typeof v),
  },
  // strings
  strlen: {
    minArgs: 1,
    maxArgs: 1,
    fn: ([v]) => {
      const s = toStringValue(v);
      return s === null ? null : s.length;
    },
  },
  length: {
    minArgs: 1,
    maxArgs: 1,
    fn: ([v]) => (typeof v === 'string' || Array.isArray(v) ? v.length : null),
  },
  substring: {
    minArgs: 2,
    maxArgs: 3,
    fn: ([v, start, len]) => {
      const s = toStringValue(v);
      const b = num(start);
      if (s === null || b === null) return null;
      const l = num(len);
      return l === null ? s.substring(b) : s.substr(Math.max(0, b), Math.max(0, l));
    },
  },
  tolower: { minArgs: 1, maxArgs: 1, fn: ([v]) => str(v)?.toLowerCase() ?? null },
  toupper: { minArgs: 1, maxArgs: 1, fn: ([v]) => str(v)?.toUpperCase() ?? null },
  trim: { minArgs: 1, maxArgs: 1, fn: ([v]) => str(v)?.trim() ?? null },
  strcat: { minArgs: 1, maxArgs: Infinity, fn: (a) => a.map((x) => toStringValue(x) ?? '').join('') },
  contains: {
    minArgs: 2,
    maxArgs: 2,
    fn: ([h, n]) => {
      if (Array.isArray(h)) return h.includes(n);
      const s = toStringValue(h);
      const t = toStringValue(n);
      return s !== null && t !== null && s.toLowerCase().includes(t.toLowerCase());
    },
  },
  contains_cs: {
    minArgs: 2,
    maxArgs: 2,
    fn: ([h, n]) => {
      const s = toStringValue(h);
      const t = toStringValue(n);
      return s !== null && t !== null && s.includes(t);
    },
  },
  startswith: {
    minArgs: 2,
    maxArgs: 2,
    fn: ([h, n]) => {
      const s = toStringValue(h);
      const t = toStringValue(n);
      return s !== null && t !== null && s.toLowerCase().startsWith(t.toLowerCase());
    },
  },
  endswith: {
    minArgs: 2,
    maxArgs: 2,
    fn: ([h, n]) => {
      const s = toStringValue(h);
      const t = toStringValue(n);
      return s !== null && t !== null && s.toLowerCase().endsWith(t.toLowerCase());
    },
  },
};

export function lookupFunction(name: string): ScalarFunction | undefined {
  return Object.prototype.hasOwnProperty.call(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
}

export function assertArity(name: string, f: ScalarFunction, n: number): string | null {
  if (n < f.minArgs || n > f.maxArgs) {
    const want = f.minArgs === f.maxArgs ? `${f.minArgs}` : f.maxArgs === Infinity ? `at least ${f.minArgs}` : `${f.minArgs} to ${f.maxArgs}`;
    return `${name}() takes ${want} argument(s), got ${n}`;
  }
  return null;
}

export { EvalFailure };
