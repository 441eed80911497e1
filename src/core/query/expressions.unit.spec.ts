import { arr, bin, call, field, lit, lookupRef, obj } from './build.js';
import { compileExpression, type Env } from './compile.js';
import { QueryLimitError, QueryPlanError } from './errors.js';
import type { Expression } from './plan.js';

const env = (lookups: Record<string, unknown> = {}): Env => ({ lookup: (n) => lookups[n], vars: null, state: null, aggs: null });
const ev = (e: Expression, record: unknown = {}, lookups: Record<string, unknown> = {}) =>
  compileExpression(e, { maxDepth: 64 })(record, env(lookups));

describe('expressions', () => {
  const rec = { a: { b: 2, list: [10, 20, { c: 'x' }] }, n: 5, s: 'Hello', z: null, i: 1 };

  it('reads fields and paths, missing steps are undefined', () => {
    expect(ev(field('n'), rec)).toBe(5);
    expect(ev(field('a.b'), rec)).toBe(2);
    expect(ev(field('a.nope.deeper'), rec)).toBeUndefined();
    expect(ev(field('s.length'), rec)).toBeUndefined(); // strings are not objects (JSONJet safeGet)
    expect(ev(field('constructor'), rec)).toBeUndefined(); // never the prototype
    expect(ev(field('a.list.length'), rec)).toBe(3);
  });

  it('indexes arrays (by integer) and objects (by string key)', () => {
    const at = (o: Expression, i: Expression): Expression => ({ kind: 'index', object: o, index: i });
    expect(ev(at(field('a.list'), lit(1)), rec)).toBe(20);
    expect(ev(at(field('a.list'), field('i')), rec)).toBe(20);
    expect(ev(at(field('a.list'), lit(9)), rec)).toBeUndefined();
    expect(ev({ kind: 'get', object: at(field('a.list'), lit(2)), key: 'c' }, rec)).toBe('x');
    expect(ev(at(field('a'), lit('b')), rec)).toBe(2);
    expect(ev(at(field('s'), lit(0)), rec)).toBeUndefined();
  });

  it('compares like JSONJet (=== for ==), structurally for objects', () => {
    expect(ev(bin('==', field('n'), lit(5)), rec)).toBe(true);
    expect(ev(bin('==', field('n'), lit('5')), rec)).toBe(false);
    expect(ev(bin('!=', field('z'), lit(null)), rec)).toBe(false);
    expect(ev(bin('==', arr(lit(1)), arr(lit(1))), rec)).toBe(true);
    expect(ev(bin('<', field('n'), lit(6)), rec)).toBe(true);
    expect(ev(bin('>=', field('n'), field('a.b')), rec)).toBe(true);
    expect(ev(bin('<=', lit(3), lit(2)))).toBe(false);
    expect(ev(bin('>', field('missing'), lit(0)), rec)).toBe(false);
  });

  it('does arithmetic and string concatenation as JavaScript', () => {
    expect(ev(bin('+', field('n'), lit(1)), rec)).toBe(6);
    expect(ev(bin('+', field('s'), lit(' world')), rec)).toBe('Hello world');
    expect(ev(bin('-', lit(7), lit(10)))).toBe(-3);
    expect(ev(bin('*', lit(3), lit(4)))).toBe(12);
    expect(ev(bin('/', lit(7), lit(2)))).toBe(3.5);
    expect(ev(bin('%', lit(7), lit(4)))).toBe(3);
  });

  it('&& and || return an operand (JSONJet select-demo: age && age >= 18, age || 0)', () => {
    expect(ev(bin('&&', field('z'), lit(true)), rec)).toBeNull();
    expect(ev(bin('||', field('z'), lit(0)), rec)).toBe(0);
    expect(ev(bin('&&', field('n'), bin('>=', field('n'), lit(3))), rec)).toBe(true);
  });

  it('unary and conditional', () => {
    expect(ev({ kind: 'unary', op: 'not', operand: field('z') }, rec)).toBe(true);
    expect(ev({ kind: 'unary', op: 'neg', operand: field('n') }, rec)).toBe(-5);
    expect(ev({ kind: 'unary', op: 'plus', operand: lit('3') })).toBe(3);
    expect(ev({ kind: 'conditional', test: field('z'), then: lit('y'), else: lit('n') }, rec)).toBe('n');
  });

  it('calls functions; iff evaluates one branch only', () => {
    const boom = obj(['...', lit('not an object')]); // throws when evaluated
    expect(ev(call('iff', bin('>', field('n'), lit(1)), lit('big'), boom), rec)).toBe('big');
    expect(() => ev(call('iff', lit(false), lit('big'), boom), rec)).toThrow(/cannot spread/);
  });

  it('rejects unknown functions and wrong arity at compile time', () => {
    expect(() => ev(call('nope'))).toThrow(QueryPlanError);
    expect(() => ev(call('abs'))).toThrow(/abs\(\) takes 1/);
  });

  it.each([
    ['abs', [lit(-2)], 2],
    ['round', [lit(2.567), lit(2)], 2.57],
    ['round', [lit(2.5)], 3],
    ['floor', [lit(2.7)], 2],
    ['ceil', [lit(2.1)], 3],
    ['sqrt', [lit(9)], 3],
    ['pow', [lit(2), lit(10)], 1024],
    ['exp', [lit(0)], 1],
    ['log', [lit(1)], 0],
    ['min', [lit(3), lit(1), lit(2)], 1],
    ['max', [lit(3), lit(1), lit(2)], 3],
    ['add', [lit(1), lit(2), lit(3)], 6],
    ['sub', [lit(10), lit(3)], 7],
    ['mul', [lit(2), lit(3)], 6],
    ['div', [lit(9), lit(3)], 3],
    ['mod', [lit(9), lit(4)], 1],
    ['neg', [lit(3)], -3],
    ['eq', [lit(1), lit(1)], true],
    ['ne', [lit(1), lit(1)], false],
    ['lt', [lit(1), lit(2)], true],
    ['and', [lit(1), lit(0)], false],
    ['or', [lit(1), lit(0)], true],
    ['not', [lit(0)], true],
    ['isnull', [field('missing')], true],
    ['isnotnull', [lit(0)], true],
    ['isempty', [lit('')], true],
    ['coalesce', [field('missing'), lit(null), lit(7)], 7],
    ['tostring', [lit(12)], '12'],
    ['tostring', [arr(lit(1))], '[1]'],
    ['tonumber', [lit(' 42 ')], 42],
    ['tonumber', [lit('x')], null],
    ['strlen', [lit('abc')], 3],
    ['substring', [lit('abcdef'), lit(1), lit(3)], 'bcd'],
    ['substring', [lit('abcdef'), lit(2)], 'cdef'],
    ['contains', [lit('Hello'), lit('ELL')], true],
    ['contains_cs', [lit('Hello'), lit('ELL')], false],
    ['contains', [arr(lit(1), lit(2)), lit(2)], true],
    ['startswith', [lit('Hello'), lit('he')], true],
    ['endswith', [lit('Hello'), lit('LO')], true],
    ['tolower', [lit('AbC')], 'abc'],
    ['toupper', [lit('AbC')], 'ABC'],
    ['strcat', [lit('a'), lit(1), lit(null)], 'a1'],
    ['typeof', [arr()], 'array'],
  ] as Array<[string, Expression[], unknown]>)('%s', (name, args, expected) => {
    const got = ev(call(name, ...args));
    if (typeof expected === 'number') expect(got).toBeCloseTo(expected, 10);
    else expect(got).toEqual(expected);
  });

  it('math on a non-number gives null, never throws', () => {
    expect(ev(call('sqrt', lit('x')))).toBeNull();
    expect(ev(call('pi'))).toBeCloseTo(Math.PI);
  });

  it('builds objects: spreads first, then properties (they win), then exclusions; undefined is left out', () => {
    const r = { a: 1, b: 2, c: 3 };
    expect(ev(obj({ a: lit(10) }, '...*', '-c', { d: field('missing') }), r)).toEqual({ a: 10, b: 2 });
    expect(Object.keys(ev(obj('...*', { z: lit(0) }), r) as object)).toEqual(['a', 'b', 'c', 'z']);
    expect(ev(obj(['...', field('inner')], { x: lit(1) }), { inner: { x: 0, y: 2 } })).toEqual({ x: 1, y: 2 });
    expect(ev(obj(['...', field('missing')]), {})).toEqual({});
    expect(() => ev(obj(['...', lit('str')]), {})).toThrow(/cannot spread a string/);
  });

  it('never writes a prototype from a record key', () => {
    const r = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const out = ev(obj('...*'), r) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
  });

  it('builds arrays (undefined becomes null) and literal objects are fresh copies', () => {
    expect(ev(arr(lit(1), field('missing')))).toEqual([1, null]);
    const f = compileExpression(lit({ k: [1] }), { maxDepth: 8 });
    const one = f({}, env()) as { k: number[] };
    one.k.push(2);
    expect(f({}, env())).toEqual({ k: [1] });
  });

  it('reads lookups through the resolver', () => {
    expect(ev({ kind: 'get', object: lookupRef('cfg'), key: 'limit' }, {}, { cfg: { limit: 3 } })).toBe(3);
    expect(ev(lookupRef('none'))).toBeUndefined();
  });

  it('refuses an expression nested deeper than maxDepth', () => {
    let e: Expression = lit(1);
    for (let i = 0; i < 10; i++) e = bin('+', e, lit(1));
    expect(() => compileExpression(e, { maxDepth: 5 })).toThrow(QueryLimitError);
    expect(compileExpression(e, { maxDepth: 20 })({}, env())).toBe(11);
  });

  it('an aggregate outside summarize is a plan error', () => {
    expect(() => ev({ kind: 'aggregate', fn: 'count', args: [] })).toThrow(/only allowed in summarize/);
  });
});
