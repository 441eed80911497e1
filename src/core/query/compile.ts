import { EvalFailure, QueryLimitError, QueryPlanError } from './errors.js';
import { assertArity, lookupFunction } from './functions.js';
import type { Expression, ObjectEntry } from './plan.js';
import { isPlainObject, valuesEqual } from './values.js';

/** What a compiled expression sees besides the record. */
export interface Env {
  lookup: (name: string) => unknown;
  /** Operator-bound variables (a summarize's window variable). */
  vars: Record<string, unknown> | null;
  /** A scan match's state variables. */
  state: Record<string, unknown> | null;
  /** Results of a summarize's aggregates, by slot. */
  aggs: unknown[] | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Compiled = (record: any, env: Env) => unknown;

export interface CompileOptions {
  /** 'scan': a field's root name reads the match state first. */
  scope?: 'record' | 'scan';
  maxDepth: number;
  /** Slots of aggregate nodes (summarize output); without it an aggregate node is a plan error. */
  aggregateSlots?: Map<Expression, number>;
}

/** Keys where plain `o[k]` would reach Object.prototype: read them only as own properties. */
const UNSAFE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));
export const isUnsafeKey = (key: string): boolean => UNSAFE_KEYS.has(key);

function getter(key: string): (o: unknown) => unknown {
  if (UNSAFE_KEYS.has(key)) {
    return (o) => (typeof o === 'object' && o !== null && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined);
  }
  return (o) => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined);
}

/** Sets a key without ever touching a prototype (`__proto__` from JSON is an own key). */
export function safeSet(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

/** `target[i]`: an array by a whole number, an object by an own string key; anything else is undefined. */
export function indexValue(target: unknown, i: unknown): unknown {
  if (Array.isArray(target)) return typeof i === 'number' && Number.isInteger(i) && i >= 0 ? target[i] : undefined;
  if (isPlainObject(target) && typeof i === 'string') return Object.hasOwn(target, i) ? target[i] : undefined;
  return undefined;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function compileExpression(expr: Expression, options: CompileOptions): Compiled {
  return compile(expr, options, 0);
}

function compile(e: Expression, o: CompileOptions, depth: number): Compiled {
  if (depth > o.maxDepth) {
    throw new QueryLimitError(`expression nesting deeper than ${o.maxDepth}`, 'maxDepth', o.maxDepth);
  }
  const sub = (x: Expression) => compile(x, o, depth + 1);
  switch (e.kind) {
    case 'literal': {
      const v = e.value;
      if (v !== null && typeof v === 'object') {
        const frozen = structuredClone(v);
        return () => structuredClone(frozen); // outputs may be mutated downstream; literals must not be
      }
      return () => v;
    }
    case 'field':
      return compileField(e.path, o.scope === 'scan');
    case 'var': {
      const name = e.name;
      return (_r, env) => (env.vars === null ? undefined : env.vars[name]);
    }
    case 'lookup': {
      const name = e.name;
      return (_r, env) => env.lookup(name);
    }
    case 'get': {
      const obj = sub(e.object);
      const get = getter(e.key);
      return (r, env) => get(obj(r, env));
    }
    case 'index': {
      const obj = sub(e.object);
      const idx = sub(e.index);
      return (r, env) => indexValue(obj(r, env), idx(r, env));
    }
    case 'binary':
      return compileBinary(e.op, e.left, e.right, sub);
    case 'unary': {
      const a = sub(e.operand);
      switch (e.op) {
        case 'not':
          return (r, env) => !a(r, env);
        case 'neg':
          return (r, env) => -(a(r, env) as number);
        case 'plus':
          return (r, env) => +(a(r, env) as number);
      }
      break;
    }
    case 'conditional': {
      const t = sub(e.test);
      const a = sub(e.then);
      const b = sub(e.else);
      return (r, env) => (t(r, env) ? a(r, env) : b(r, env));
    }
    case 'call':
      return compileCall(e.name, e.args, sub);
    case 'aggregate': {
      const slot = o.aggregateSlots?.get(e);
      if (slot === undefined) throw new QueryPlanError(`aggregate ${e.fn}() is only allowed in summarize`);
      return (_r, env) => (env.aggs as unknown[])[slot];
    }
    case 'object':
      return compileObject(e.entries, sub);
    case 'array': {
      const items = e.items.map(sub);
      return (r, env) => {
        const out = new Array<unknown>(items.length);
        for (let i = 0; i < items.length; i++) {
          const v = items[i](r, env);
          out[i] = v === undefined ? null : v;
        }
        return out;
      };
    }
  }
  throw new QueryPlanError(`unknown expression kind ${(e as { kind: string }).kind}`);
}

function compileField(path: string[], scan: boolean): Compiled {
  if (path.length === 0) throw new QueryPlanError('empty field path');
  const getters = path.map(getter);
  const [root, ...rest] = path;
  const g0 = getters[0];
  let readRoot: Compiled;
  if (scan) {
    readRoot = (r, env) => (env.state !== null && Object.hasOwn(env.state, root) ? env.state[root] : g0(r));
  } else {
    readRoot = (r) => g0(r);
  }
  if (rest.length === 0) return readRoot;
  if (rest.length === 1) {
    const g1 = getters[1];
    return (r, env) => g1(readRoot(r, env));
  }
  const tail = getters.slice(1);
  return (r, env) => {
    let v = readRoot(r, env);
    for (let i = 0; i < tail.length && v !== undefined; i++) v = tail[i](v);
    return v;
  };
}

function compileBinary(op: string, left: Expression, right: Expression, sub: (x: Expression) => Compiled): Compiled {
  const a = sub(left);
  // Fast path for `x <op> literal` (the common filter shape).
  if (right.kind === 'literal' && (right.value === null || typeof right.value !== 'object')) {
    const k = right.value as number;
    switch (op) {
      case '==':
        return (r, env) => a(r, env) === k;
      case '!=':
        return (r, env) => a(r, env) !== k;
      case '<':
        return (r, env) => (a(r, env) as number) < k;
      case '>':
        return (r, env) => (a(r, env) as number) > k;
      case '<=':
        return (r, env) => (a(r, env) as number) <= k;
      case '>=':
        return (r, env) => (a(r, env) as number) >= k;
    }
  }
  const b = sub(right);
  switch (op) {
    case '==':
      return (r, env) => valuesEqual(a(r, env), b(r, env));
    case '!=':
      return (r, env) => !valuesEqual(a(r, env), b(r, env));
    case '<':
      return (r, env) => (a(r, env) as number) < (b(r, env) as number);
    case '>':
      return (r, env) => (a(r, env) as number) > (b(r, env) as number);
    case '<=':
      return (r, env) => (a(r, env) as number) <= (b(r, env) as number);
    case '>=':
      return (r, env) => (a(r, env) as number) >= (b(r, env) as number);
    case '&&':
      return (r, env) => a(r, env) && b(r, env);
    case '||':
      return (r, env) => a(r, env) || b(r, env);
    case '+':
      return (r, env) => (a(r, env) as number) + (b(r, env) as number);
    case '-':
      return (r, env) => (a(r, env) as number) - (b(r, env) as number);
    case '*':
      return (r, env) => (a(r, env) as number) * (b(r, env) as number);
    case '/':
      return (r, env) => (a(r, env) as number) / (b(r, env) as number);
    case '%':
      return (r, env) => (a(r, env) as number) % (b(r, env) as number);
  }
  throw new QueryPlanError(`unknown operator ${op}`);
}

function compileCall(name: string, argExprs: Expression[], sub: (x: Expression) => Compiled): Compiled {
  const f = lookupFunction(name);
  if (!f) throw new QueryPlanError(`unknown function ${name}()`);
  const arity = assertArity(name, f, argExprs.length);
  if (arity) throw new QueryPlanError(arity);
  const args = argExprs.map(sub);
  if (name === 'iff') {
    const [c, t, e] = args;
    return (r, env) => (c(r, env) ? t(r, env) : e(r, env));
  }
  const fn = f.fn;
  if (args.length === 1) {
    const a0 = args[0];
    return (r, env) => fn([a0(r, env)]);
  }
  return (r, env) => {
    const values = new Array<unknown>(args.length);
    for (let i = 0; i < args.length; i++) values[i] = args[i](r, env);
    return fn(values);
  };
}

function spreadInto(out: Record<string, unknown>, src: unknown): void {
  if (src === null || src === undefined) return;
  if (!isPlainObject(src)) throw new EvalFailure(`cannot spread ${describe(src)}: not an object`);
  for (const key of Object.keys(src)) {
    const v = src[key];
    if (v !== undefined) safeSet(out, key, v);
  }
}

function compileObject(entries: ObjectEntry[], sub: (x: Expression) => Compiled): Compiled {
  const spreads: Array<Compiled | null> = []; // null = the record itself
  const keys: string[] = [];
  const values: Compiled[] = [];
  const excluded: string[] = [];
  for (const entry of entries) {
    if (entry.kind === 'spreadRecord') spreads.push(null);
    else if (entry.kind === 'spread') spreads.push(sub(entry.value));
    else if (entry.kind === 'exclude') excluded.push(entry.key);
    else {
      const at = keys.indexOf(entry.key);
      if (at >= 0) values[at] = sub(entry.value); // a repeated key: the last one wins, as in JS
      else {
        keys.push(entry.key);
        values.push(sub(entry.value));
      }
    }
  }
  const n = keys.length;
  const plain = spreads.length === 0 && !keys.includes('__proto__');
  if (plain) {
    return (r, env) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const v = values[i](r, env);
        if (v !== undefined) out[keys[i]] = v;
      }
      for (let i = 0; i < excluded.length; i++) delete out[excluded[i]];
      return out;
    };
  }
  return (r, env) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < spreads.length; i++) {
      const s = spreads[i];
      spreadInto(out, s === null ? r : s(r, env));
    }
    for (let i = 0; i < n; i++) {
      const v = values[i](r, env);
      if (v !== undefined) safeSet(out, keys[i], v);
      else delete out[keys[i]];
    }
    for (let i = 0; i < excluded.length; i++) delete out[excluded[i]];
    return out;
  };
}

/** Every aggregate node of an expression, outermost first (an aggregate inside another is a plan error). */
export function collectAggregates(expr: Expression, out: Extract<Expression, { kind: 'aggregate' }>[] = [], inside = false): typeof out {
  const visit = (x: Expression, inAgg: boolean) => collectAggregates(x, out, inAgg);
  switch (expr.kind) {
    case 'aggregate':
      if (inside) throw new QueryPlanError(`aggregate ${expr.fn}() cannot be nested in another aggregate`);
      out.push(expr);
      for (const a of expr.args) visit(a, true);
      break;
    case 'get':
      visit(expr.object, inside);
      break;
    case 'index':
      visit(expr.object, inside);
      visit(expr.index, inside);
      break;
    case 'binary':
      visit(expr.left, inside);
      visit(expr.right, inside);
      break;
    case 'unary':
      visit(expr.operand, inside);
      break;
    case 'conditional':
      visit(expr.test, inside);
      visit(expr.then, inside);
      visit(expr.else, inside);
      break;
    case 'call':
      for (const a of expr.args) visit(a, inside);
      break;
    case 'object':
      for (const en of expr.entries) if (en.kind === 'property' || en.kind === 'spread') visit(en.value, inside);
      break;
    case 'array':
      for (const a of expr.items) visit(a, inside);
      break;
  }
  return out;
}
