import { compileExpression, indexValue, isUnsafeKey, type Compiled, type CompileOptions } from './compile.js';
import { lookupFunction } from './functions.js';
import type { Expression, ObjectEntry } from './plan.js';
import { valuesEqual } from './values.js';

/**
 * Expressions as generated JavaScript: one function per operator (or per run of operators) instead of a closure
 * per node, so the JIT sees one monomorphic function with field reads as property reads. Each construct keeps the
 * exact semantics of compile.ts; anything not handled here is that closure, called from the generated code.
 *
 * Safety: nothing from the plan enters the source as code. Keys, names and strings are JSON string literals,
 * numbers are finite numbers printed by String(); every other value (functions, object literals, NaN…) is a
 * captured value, referenced by an identifier this class makes up.
 */
export class JsGen {
  private readonly captured: unknown[] = [];
  private readonly captureNames = new Map<unknown, string>();
  private readonly helpers: string[] = [];
  private readonly helperNames = new Map<string, string>();
  private counter = 0;
  /** Records never built: identifier → its fields, each held in a local (see `virtual`). */
  private readonly virtuals = new Map<string, Map<string, string>>();
  /** Identifiers whose record value itself was needed (a closure or helper got it). */
  private readonly recordsUsed = new Set<string>();

  /** Options of the closures it falls back to (record scope only: a scan's scoping is not generated). */
  constructor(private readonly options: { maxDepth: number; aggregateSlots?: Map<Expression, number> }) {}

  /** An identifier for a value the generated code uses as is. */
  capture(value: unknown): string {
    let name = this.captureNames.get(value);
    if (name === undefined) {
      name = `c${this.captured.length}`;
      this.captured.push(value);
      this.captureNames.set(value, name);
    }
    return name;
  }

  /**
   * Declares `name` a record that is never built: a field read of it is the local holding that field (`fields`:
   * key → local identifier, undefined for the others), exactly what reading the built object would give.
   * Anything else that needs the record itself marks it used (`recordUsed`): then it must be built after all.
   */
  virtual(name: string, fields: Map<string, string>): void {
    this.virtuals.set(name, fields);
  }

  recordUsed(name: string): boolean {
    return this.recordsUsed.has(name);
  }

  /** The record in identifier `r` as a value (marks a virtual record used). */
  record(r: string): string {
    this.recordsUsed.add(r);
    return r;
  }

  /** A fresh local identifier. */
  local(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  /**
   * JS source of `e` evaluated over the record in identifier `r`; the identifier `env` must be in scope.
   * Plan errors (unknown function, arity, depth) are the closure compiler's: call it on the whole expression first.
   */
  expr(e: Expression, r: string, depth = 0): string {
    if (depth > GENERATED_DEPTH) return this.fallback(e, r);
    const sub = (x: Expression) => this.expr(x, r, depth + 1);
    switch (e.kind) {
      case 'literal':
        return e.value !== null && typeof e.value === 'object' ? this.fallback(e, r) : this.literal(e.value);
      case 'field': {
        if (e.path.length === 0) return this.fallback(e, r);
        const virtual = this.virtuals.get(r);
        let out = virtual ? (virtual.get(e.path[0]) ?? 'undefined') : this.read(r, e.path[0]);
        for (let i = 1; i < e.path.length; i++) out = `${this.getter(e.path[i])}(${out})`;
        return out;
      }
      case 'var':
        return `(env.vars === null ? undefined : env.vars[${JSON.stringify(e.name)}])`;
      case 'lookup':
        return `env.lookup(${JSON.stringify(e.name)})`;
      case 'get':
        return `${this.getter(e.key)}(${sub(e.object)})`;
      case 'index':
        return `${this.capture(indexValue)}(${sub(e.object)}, ${sub(e.index)})`;
      case 'binary':
        return this.binary(e.op, e.left, e.right, sub, r);
      case 'unary': {
        const op = e.op === 'not' ? '!' : e.op === 'neg' ? '-' : e.op === 'plus' ? '+' : null;
        return op === null ? this.fallback(e, r) : `(${op}${sub(e.operand)})`;
      }
      case 'conditional':
        return `(${sub(e.test)} ? ${sub(e.then)} : ${sub(e.else)})`;
      case 'call': {
        const f = lookupFunction(e.name);
        if (!f) return this.fallback(e, r);
        if (e.name === 'iff' && e.args.length === 3) return `(${sub(e.args[0])} ? ${sub(e.args[1])} : ${sub(e.args[2])})`;
        return `${this.capture(f.fn)}([${e.args.map(sub).join(', ')}])`;
      }
      case 'aggregate': {
        const slot = this.options.aggregateSlots?.get(e);
        return slot === undefined ? this.fallback(e, r) : `env.aggs[${slot}]`;
      }
      case 'object':
        return this.object(e.entries, r, depth);
      case 'array': {
        const nz = this.helper('nz', 'nz', (name) => `function ${name}(v) { return v === undefined ? null : v; }`);
        return `[${e.items.map((x) => `${nz}(${sub(x)})`).join(', ')}]`;
      }
      default:
        return this.fallback(e, r);
    }
  }

  /** Builds `function (params) { body }` over the captured values and helpers. */
  build<F>(params: string, body: string): F {
    const prelude = this.captured.map((_, i) => `const c${i} = $captured[${i}];`).join('\n');
    const source = `'use strict';\n${prelude}\n${this.helpers.join('\n')}\nreturn function generated(${params}) {\n${body}\n};`;
    return factoryOf(source)(this.captured) as F;
  }

  // --------------------------------------------------------------------------------------------- pieces

  private fallback(e: Expression, r: string): string {
    const closure: Compiled = compileExpression(e, this.options);
    return `${this.capture(closure)}(${this.record(r)}, env)`;
  }

  /** Source of a primitive value: a literal when it has an exact one, else a captured value. */
  literal(v: unknown): string {
    if (v === null) return 'null';
    if (v === undefined) return 'undefined';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0)) return `(${String(v)})`;
    return this.capture(v);
  }

  /** `o.key` as compile.ts's getter: objects only, and keys of Object.prototype only as own keys. */
  private read(o: string, key: string): string {
    const k = JSON.stringify(key);
    if (isUnsafeKey(key)) return `(typeof ${o} === 'object' && ${o} !== null && ${this.capture(Object.hasOwn)}(${o}, ${k}) ? ${o}[${k}] : undefined)`;
    return `(typeof ${o} === 'object' && ${o} !== null ? ${o}[${k}] : undefined)`;
  }

  private getter(key: string): string {
    return this.helper(`get ${key}`, 'g', (name) => `function ${name}(o) { return ${this.read('o', key)}; }`);
  }

  /** A helper function declared once per generated function, under a made-up name. */
  private helper(id: string, prefix: string, source: (name: string) => string): string {
    let name = this.helperNames.get(id);
    if (name === undefined) {
      name = this.local(prefix);
      this.helperNames.set(id, name);
      this.helpers.push(source(name));
    }
    return name;
  }

  private binary(op: string, left: Expression, right: Expression, sub: (x: Expression) => string, r: string): string {
    const a = sub(left);
    if (right.kind === 'literal' && (right.value === null || typeof right.value !== 'object')) {
      const k = this.literal(right.value);
      const cmp = op === '==' ? '===' : op === '!=' ? '!==' : op;
      if (cmp === '===' || cmp === '!==' || cmp === '<' || cmp === '>' || cmp === '<=' || cmp === '>=') return `(${a} ${cmp} ${k})`;
    }
    const b = sub(right);
    switch (op) {
      case '==':
        return `${this.capture(valuesEqual)}(${a}, ${b})`;
      case '!=':
        return `(!${this.capture(valuesEqual)}(${a}, ${b}))`;
      case '<': case '>': case '<=': case '>=': case '&&': case '||': case '+': case '-': case '*': case '/': case '%':
        return `(${a} ${op} ${b})`;
    }
    return this.fallback({ kind: 'binary', op: op as '+', left, right }, r);
  }

  /**
   * A plain object literal (no spread, no `__proto__` key) as a helper function: every value in order, then the
   * object with the defined ones, as compile.ts's plain path. Anything else is the closure.
   */
  private object(entries: ObjectEntry[], r: string, depth: number): string {
    const keys: string[] = [];
    const values: Expression[] = [];
    const excluded: string[] = [];
    for (const en of entries) {
      if (en.kind === 'spread' || en.kind === 'spreadRecord') return this.fallback({ kind: 'object', entries }, r);
      if (en.kind === 'exclude') excluded.push(en.key);
      else {
        const at = keys.indexOf(en.key);
        if (at >= 0) values[at] = en.value;
        else {
          keys.push(en.key);
          values.push(en.value);
        }
      }
    }
    if (keys.includes('__proto__')) return this.fallback({ kind: 'object', entries }, r);
    const name = this.local('o');
    const vs = keys.map((_, i) => `v${i}`);
    const lines = [`function ${name}(r, env) {`];
    keys.forEach((_, i) => lines.push(`  const ${vs[i]} = ${this.expr(values[i], 'r', depth + 1)};`));
    const deletes = excluded.map((k) => `  delete o[${JSON.stringify(k)}];`);
    if (keys.length > 0 && excluded.length === 0) {
      // The common case, every value defined: one literal, so every output has the same shape.
      const all = vs.map((v) => `${v} !== undefined`).join(' && ');
      lines.push(`  if (${all}) return { ${keys.map((k, i) => `${JSON.stringify(k)}: ${vs[i]}`).join(', ')} };`);
    }
    lines.push('  const o = {};');
    keys.forEach((k, i) => lines.push(`  if (${vs[i]} !== undefined) o[${JSON.stringify(k)}] = ${vs[i]};`));
    lines.push(...deletes, '  return o;', '}');
    this.helpers.push(lines.join('\n'));
    return `${name}(${this.record(r)}, env)`;
  }
}

/**
 * One factory per generated source, shared by every runtime of the same plan shape (the source holds no
 * captured value, only their slots): its functions then share their JIT state, so a new live query on a plan
 * already seen runs optimized code at once. Bounded; the oldest entry goes first.
 */
const factories = new Map<string, (captured: unknown[]) => unknown>();
const MAX_FACTORIES = 512;

function factoryOf(source: string): (captured: unknown[]) => unknown {
  let factory = factories.get(source);
  if (factory === undefined) {
    factory = new Function('$captured', source) as (captured: unknown[]) => unknown;
    if (factories.size >= MAX_FACTORIES) factories.delete(factories.keys().next().value as string);
    factories.set(source, factory);
  }
  return factory;
}

/** Deeper parts of an expression stay closures (a plan may nest up to maxDepth; the generated source stays small). */
const GENERATED_DEPTH = 48;

/**
 * An expression as one generated function with the closure's signature and results; the closure itself when
 * generation fails (it never should: this is the safety net, not a path).
 */
export function generateExpression(e: Expression, options: CompileOptions): Compiled {
  const closure = compileExpression(e, options); // plan errors are raised here, exactly as without generation
  if (options.scope === 'scan') return closure;
  try {
    const gen = new JsGen(options);
    return gen.build<Compiled>('r, env', `return ${gen.expr(e, 'r')};`);
  } catch {
    return closure;
  }
}
