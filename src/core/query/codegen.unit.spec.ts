import { agg, arr, bin, call, field, lit, lookupRef, obj, v } from './build.js';
import { generateExpression } from './codegen.js';
import { fuseStateless } from './codegen-stages.js';
import { compileExpression, type Env } from './compile.js';
import { QueryEvaluationError, QueryLimitError } from './errors.js';
import { DEFAULT_LIMITS, newEnv, type OpContext } from './operator.js';
import type { EmitSpec, Expression, JsonValue, Operator, PipelinePlan, SummarizeOp, WindowSpec } from './plan.js';
import { instantiateWith, type Output, type RuntimeContext } from './runtime.js';
import { SummarizeRuntime } from './summarize.js';

/**
 * The generated path (codegen*.ts, summarize-step.ts: the default of `instantiate`) against the closures of
 * compile.ts on the same inputs: every output, error, snapshot and nextClose must be the same.
 */

// --------------------------------------------------------------------------------------------- expressions

const env = (lookups: Record<string, unknown> = {}, vars: Record<string, unknown> | null = null): Env => ({ lookup: (n) => lookups[n], vars, state: null, aggs: null });

function outcome(f: () => unknown): unknown {
  try {
    return { value: f() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const protoRecord = JSON.parse('{"__proto__": {"x": 1}, "constructor": 5, "toString": "t"}') as JsonValue;
const records: unknown[] = [
  { n: 5, s: 'Hello', z: null, a: { b: 2, list: [10, 20, { c: 'x' }] }, i: 1, t: true },
  { n: '5', s: 3, a: { b: 'x' }, i: 2.5 },
  { n: -0, a: [1, 2], i: -1, s: '' },
  { n: NaN, z: 0, a: null },
  {},
  [1, 2, 3],
  'a string',
  42,
  null,
  protoRecord,
];

const at = (o: Expression, i: Expression): Expression => ({ kind: 'index', object: o, index: i });
const get = (o: Expression, key: string): Expression => ({ kind: 'get', object: o, key });
const expressions: Array<[string, Expression]> = [
  ['field', field('n')],
  ['path', field('a.b')],
  ['deep path', field('a.list.length')],
  ['prototype key', field('constructor')],
  ['__proto__ key', field('__proto__')],
  ['toString of a path', field('a.toString')],
  ['index array', at(field('a.list'), field('i'))],
  ['index object', at(field('a'), lit('b'))],
  ['get of index', get(at(field('a.list'), lit(2)), 'c')],
  ['== literal', bin('==', field('n'), lit(5))],
  ['== null', bin('==', field('z'), lit(null))],
  ['!= string', bin('!=', field('s'), lit('Hello'))],
  ['== structural', bin('==', field('a'), obj({ b: lit(2), list: arr(lit(10), lit(20), obj({ c: lit('x') })) }))],
  ['!= fields', bin('!=', field('n'), field('i'))],
  ['< > <= >=', arr(bin('<', field('n'), lit(6)), bin('>', field('n'), field('i')), bin('<=', lit(3), field('n')), bin('>=', field('missing'), lit(0)))],
  ['arithmetic', arr(bin('+', field('n'), lit(1)), bin('-', field('n'), lit(-2)), bin('*', field('i'), lit(0.5)), bin('/', field('n'), lit(0)), bin('%', field('n'), lit(3)))],
  ['odd literals', arr(lit(-0), lit(1e21), lit(-1.5e-7), bin('+', field('s'), lit(NaN as unknown as number)), lit(Infinity as unknown as number))],
  ['concat', bin('+', bin('+', field('s'), lit(' ')), field('n'))],
  ['&& ||', arr(bin('&&', field('z'), lit(true)), bin('||', field('z'), lit(0)), bin('&&', field('n'), bin('>=', field('n'), lit(3))))],
  ['unary', arr({ kind: 'unary', op: 'not', operand: field('z') }, { kind: 'unary', op: 'neg', operand: field('n') }, { kind: 'unary', op: 'plus', operand: field('s') })],
  ['conditional', { kind: 'conditional', test: field('t'), then: field('s'), else: lit('no') }],
  ['iff lazy', call('iff', bin('>', field('i'), lit(0)), lit('pos'), obj(['...', lit('boom')]))],
  ['functions', arr(call('abs', field('n')), call('coalesce', field('missing'), field('z'), lit(7)), call('strcat', field('s'), field('n')), call('round', field('i')), call('typeof', field('a')), call('pi'))],
  ['lookup', bin('+', lookupRef('base'), field('n'))],
  ['lookup member', get(lookupRef('cfg'), 'limit')],
  ['var', get(v('w'), 'start')],
  ['object plain', obj({ k: field('s'), v: field('n'), m: field('missing') })],
  ['object repeated key', { kind: 'object', entries: [{ kind: 'property', key: 'a', value: lit(1) }, { kind: 'property', key: 'b', value: lit(2) }, { kind: 'property', key: 'a', value: field('n') }] }],
  ['object numeric and odd keys', obj({ '1': field('n'), '0': lit('zero'), 'a"b': lit(1), 'c\\d': lit(2), 'e\nf': lit(3), '\u2028': lit(4), '${x}': lit(5), '*/': lit(6) })],
  ['object prototype keys', obj({ constructor: field('n'), toString: lit(1), hasOwnProperty: field('missing') })],
  ['object __proto__ key', obj({ ['__proto__']: field('n'), x: lit(1) })],
  ['object exclusions', obj({ a: field('n'), b: field('s') }, '-a')],
  ['object spreads', obj('...*', { extra: lit(1) }, '-s')],
  ['object spread of a value', obj(['...', field('a')], { b: lit('mine') })],
  ['nested object', obj({ inner: obj({ n: field('n'), arr: arr(field('missing'), field('z')) }), lit: lit({ q: [1] }) })],
  ['array', arr(field('missing'), field('z'), field('n'))],
  ['literal object is a fresh copy', lit({ k: [1, { j: 2 }] })],
  ['odd field names', arr(field('a"]; globalThis.pwned = 1; //'), { kind: 'field', path: ["'); globalThis.pwned = 1; ('"] }, field('\\'), get(field('a'), '\u2028`${1}`'))],
];

describe('generated expressions give what the closures give', () => {
  const lookups = { base: 10, cfg: { limit: 3 } };
  const vars = { w: { start: 1000, end: 2000 } };
  it.each(expressions)('%s', (_name, e) => {
    const closure = compileExpression(e, { maxDepth: 64 });
    const generated = generateExpression(e, { maxDepth: 64 });
    for (const r of records) {
      const a = outcome(() => closure(r, env(lookups, vars)));
      const b = outcome(() => generated(r, env(lookups, vars)));
      expect(b).toEqual(a);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a)); // key order too
    }
    expect((globalThis as { pwned?: unknown }).pwned).toBeUndefined();
  });

  it('a literal object is a fresh copy each time, as with the closures', () => {
    const f = generateExpression(lit({ k: [1] }), { maxDepth: 8 });
    (f({}, env()) as { k: number[] }).k.push(2);
    expect(f({}, env())).toEqual({ k: [1] });
  });

  it('deep expressions (past the generated depth) keep working', () => {
    let e: Expression = field('n');
    for (let i = 0; i < 120; i++) e = bin('+', e, lit(1));
    const r = { n: 1 };
    expect(generateExpression(e, { maxDepth: 256 })(r, env())).toBe(compileExpression(e, { maxDepth: 256 })(r, env()));
  });

  it('plan errors are the closures\' own', () => {
    expect(() => generateExpression(call('nope'), { maxDepth: 8 })).toThrow(/unknown function nope/);
    expect(() => generateExpression(agg('count'), { maxDepth: 8 })).toThrow(/only allowed in summarize/);
    let deep: Expression = lit(1);
    for (let i = 0; i < 10; i++) deep = bin('+', deep, lit(1));
    expect(() => generateExpression(deep, { maxDepth: 5 })).toThrow(QueryLimitError);
  });
});

// --------------------------------------------------------------------------------------------- pipelines

type Action = { push: JsonValue; time: number } | { advance: number } | { flush: true } | { restore: true };

/** Plays the actions on one runtime; a `restore` replaces it by one restored from its snapshot (same mode or not). */
function play(plan: PipelinePlan, actions: Action[], generated: boolean, opts: { restoreInto?: boolean; ctx?: RuntimeContext } = {}): unknown[] {
  const log: unknown[] = [];
  const ctx: RuntimeContext = opts.ctx ?? {
    lookup: (n) => (n === 'min' ? 0 : undefined),
    limits: { maxGroups: 6, maxDistinct: 5, maxOpenWindows: 4 },
    onError: (e) => log.push({ error: e.name, message: e.message, offset: e instanceof QueryEvaluationError ? [e.offset, e.operatorIndex] : e.limit }),
  };
  const thrown = (f: () => Output[]) => {
    try {
      log.push(f());
    } catch (e) {
      log.push({ thrown: (e as Error).message });
    }
  };
  let p = instantiateWith(plan, ctx, undefined, { generated });
  actions.forEach((a, i) => {
    if ('push' in a) thrown(() => p.push(a.push, { offset: i, time: a.time }));
    else if ('advance' in a) thrown(() => p.advance(a.advance));
    else if ('flush' in a) thrown(() => p.flush());
    else {
      const snapshot = JSON.parse(JSON.stringify(p.snapshot()));
      log.push({ snapshot });
      p = instantiateWith(plan, ctx, snapshot, { generated: opts.restoreInto ?? generated });
    }
    log.push({ nextClose: p.nextClose() });
  });
  thrown(() => p.flush());
  log.push({ snapshot: p.snapshot() });
  return log;
}

function expectSame(plan: PipelinePlan, actions: Action[], ctx?: RuntimeContext): unknown[] {
  const closures = play(plan, actions, false, { ctx });
  const generated = play(plan, actions, true, { ctx });
  expect(generated).toEqual(closures);
  expect(JSON.stringify(generated)).toBe(JSON.stringify(closures));
  // A snapshot taken on one path restores into the other.
  expect(play(plan, actions, true, { restoreInto: false, ctx })).toEqual(closures);
  expect(play(plan, actions, false, { restoreInto: true, ctx })).toEqual(closures);
  return closures;
}

/** Deterministic records with odd values: null and missing fields, strings, booleans, objects, NaN, late times. */
function actionsOf(seed: number, n: number): Action[] {
  let s = seed >>> 0;
  const r = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const out: Action[] = [];
  let time = 0;
  for (let i = 0; i < n; i++) {
    time += pick([0, 1, 90, 250, 400, 999, 1000, 2500]);
    const x = r();
    if (x < 0.05) out.push({ advance: time + pick([0, 500, 1000, 3000]) });
    else if (x < 0.08) out.push({ flush: true });
    else if (x < 0.11) out.push({ restore: true });
    else {
      const record: Record<string, JsonValue> = {};
      const k = pick<JsonValue | undefined>(['a', 'b', 'c', 'a', 'b', 1, null, undefined, { o: 1 }, 'constructor']);
      if (k !== undefined) record.k = k;
      const v = pick<JsonValue | undefined>([1, 2, 5, -3, 0, 7.25, '4', ' 2 ', 'x', '', true, false, null, undefined, { n: 1 }, [1], NaN as unknown as number]);
      if (v !== undefined) record.v = v;
      record.j = pick(['p', 'q']);
      record.ts = r() < 0.05 ? 'bad' : time + pick([0, -1500, 300]);
      record.x = 'payload';
      out.push({ push: record, time: r() < 0.1 ? Math.max(0, time - pick([100, 1200])) : time });
    }
  }
  out.push({ push: 'not an object', time }, { push: null, time }, { push: [1, 2], time });
  return out;
}

const where: Operator = { op: 'where', condition: bin('>', field('v'), lit(0)) };
const select: Operator = { op: 'select', projection: obj({ k: field('k'), v: field('v'), j: field('j'), ts: field('ts') }) };
function summarize(aggregates: Expression, by: string[], window?: WindowSpec, emit?: EmitSpec): SummarizeOp {
  return {
    op: 'summarize',
    aggregates,
    by: by.map((p) => ({ expr: field(p), name: p })),
    window,
    windowVar: window ? 'w' : undefined,
    emit: emit ?? (window ? { kind: 'close' } : { kind: 'flush' }),
  };
}
const bench = obj({ n: agg('count'), total: agg('sum', field('v')) });
const every = obj({
  n: agg('count'),
  nv: agg('count', field('v')),
  sum: agg('sum', field('v')),
  avg: agg('avg', field('v')),
  min: agg('min', field('v')),
  max: agg('max', field('v')),
  first: agg('first', field('v')),
  last: agg('last', field('k')),
  big: agg('count_if', bin('>', field('v'), lit(1))),
  distinct: agg('count_distinct', field('v')),
  ratio: bin('/', agg('sum', field('v')), agg('count')),
  latest: field('j'),
});
const windowed = obj(['...', v('w')], { n: agg('count'), total: agg('sum', field('v')), at: bin('-', { kind: 'get', object: v('w'), key: 'end' }, lit(1)) });
const arrival = (size: number): WindowSpec => ({ type: 'tumbling', size, measure: { by: 'arrival' } });

const pipelines: Array<[string, Operator[]]> = [
  ['the bench pipeline: where | select {k, v} | summarize by k over tumbling(1s)', [where, { op: 'select', projection: obj({ k: field('k'), v: field('v') }) }, summarize(bench, ['k'], arrival(1000))]],
  ['every aggregate, multiple keys, tumbling by arrival', [where, select, summarize(every, ['k', 'j'], arrival(1000))]],
  ['no key, window variable in the output', [select, summarize(windowed, [], arrival(1500))]],
  ['summarize first (no stateless stage before it)', [summarize(every, ['k'], arrival(700))]],
  ['tumbling by value (a bad window value is an error of the summarize)', [where, select, summarize(windowed, ['k'], { type: 'tumbling', size: 2000, measure: { by: 'value', value: field('ts') } })]],
  ['count window', [where, summarize(every, ['j'], { type: 'count', size: 3 })]],
  ['tumbling by count', [select, summarize(bench, ['k'], { type: 'tumbling', size: 4, measure: { by: 'count' } })]],
  ['hopping with hop = size (tumbling)', [where, select, summarize(bench, ['k'], { type: 'hopping', size: 1000, hop: 1000, measure: { by: 'arrival' } })]],
  ['hopping', [where, select, summarize(windowed, ['k'], { type: 'hopping', size: 1500, hop: 500, measure: { by: 'arrival' } })]],
  ['sliding', [where, select, summarize(bench, ['k'], { type: 'sliding', size: 1200, measure: { by: 'arrival' } })]],
  ['session', [where, select, summarize(windowed, ['k'], { type: 'session', timeout: 900, measure: { by: 'arrival' } })]],
  ['emit every 3', [where, select, summarize(every, ['k'], undefined, { kind: 'every', interval: 3 })]],
  ['emit every 1000 using ts', [select, summarize(bench, ['k'], undefined, { kind: 'every', interval: 1000, using: field('ts') })]],
  ['emit every 800 of arrival', [select, summarize(bench, [], undefined, { kind: 'every', interval: 800, using: 'arrival' })]],
  ['emit when', [where, summarize(bench, ['k'], undefined, { kind: 'when', condition: bin('==', field('j'), lit('q')) })]],
  ['emit on change', [select, summarize(every, ['k'], undefined, { kind: 'change', value: field('j') })]],
  ['emit on group change', [where, select, summarize(bench, ['k'], undefined, { kind: 'groupChange' })]],
  ['emit on update', [where, select, summarize(obj({ hi: agg('max', field('v')), n: agg('count') }), ['j'], undefined, { kind: 'update' })]],
  ['emit on flush', [where, select, summarize(every, ['k', 'j'], undefined)]],
  ['select reading the last record in the output (the selected record is built when read)', [where, select, summarize(obj({ n: agg('count'), k2: field('k'), rest: obj(['...', field('missing')], { j: field('j') }) }), ['k'], arrival(1000))]],
  ['select with literals, repeated and prototype keys (not built)', [
    { op: 'select', projection: { kind: 'object', entries: [{ kind: 'property', key: 'k', value: field('j') }, { kind: 'property', key: 'constructor', value: field('v') }, { kind: 'property', key: 'c', value: lit('const') }, { kind: 'property', key: 'k', value: field('k') }] } },
    summarize(obj({ n: agg('count'), s: agg('sum', field('constructor')), c: agg('last', field('c')), miss: agg('count', field('toString')) }), ['k'], arrival(1000)),
  ]],
  ['select with a spread and an exclusion before summarize (built)', [where, { op: 'select', projection: obj('...*', { k2: field('k') }, '-x') }, summarize(every, ['k2'], arrival(1000))]],
  ['select with a failing spread: an error of the select', [{ op: 'select', projection: obj(['...', field('v')], { k: field('k') }) }, summarize(bench, ['k'], arrival(1000))]],
  ['select that gives nothing for some records', [{ op: 'select', projection: { kind: 'conditional', test: field('k'), then: obj({ k: field('k'), v: field('v') }), else: field('missing') } }, where, summarize(bench, [], arrival(1000))]],
  ['lookups and computed fields', [{ op: 'where', condition: bin('>', field('v'), lookupRef('min')) }, { op: 'select', projection: obj({ k: call('strcat', field('k'), lit('!')), v: bin('*', field('v'), lit(2)) }) }, summarize(bench, ['k'], arrival(1000))]],
  ['key and arguments from the window variable', [select, summarize(obj({ n: agg('count'), s: agg('sum', { kind: 'get', object: v('w'), key: 'start' }) }), [], arrival(1000))]],
  ['insert_into in the run, and stages after the summarize', [
    where, { op: 'insert_into', stream: 'seen' }, select,
    summarize(bench, ['k'], arrival(1000)),
    { op: 'where', condition: bin('>', field('n'), lit(1)) }, { op: 'insert_into', stream: 'busy' }, { op: 'select', projection: obj({ k: field('k'), n: field('n') }) },
  ]],
  ['scan between stateless stages', [
    where,
    { op: 'scan', steps: [
      { name: 'a', condition: bin('==', field('j'), lit('p')), statements: [{ kind: 'assign', target: ['a'], value: field('v') }] },
      { name: 'b', condition: bin('==', field('j'), lit('q')), statements: [{ kind: 'emit', value: obj({ k: field('k'), v: field('a') }) }] },
    ] },
    select,
    summarize(bench, ['k'], undefined, { kind: 'every', interval: 2 }),
  ]],
  ['stateless only', [where, { op: 'insert_into', stream: 'out' }, select]],
];

describe('generated pipelines give what the closures give (outputs, errors, snapshots)', () => {
  it.each(pipelines)('%s', (_name, operators) => {
    const plan: PipelinePlan = { source: 's', operators };
    for (const seed of [1, 2, 3]) {
      const log = expectSame(plan, actionsOf(seed * 7919 + operators.length, 90));
      expect(log.some((e) => Array.isArray(e) && e.length > 0)).toBe(true); // something came out
    }
  });

  it('records at window boundaries and late records (arrival, value, count)', () => {
    const times = [0, 999, 1000, 999, 1500, 1000, 2999.5, 3000, 2000, 3000, 4000.25, 5000, 4999.999];
    const actions: Action[] = [];
    times.forEach((t, i) => {
      actions.push({ push: { k: i % 2 ? 'a' : 'b', v: i + 1, ts: t }, time: t });
      if (i === 4) actions.push({ advance: 2000 }, { push: { k: 'a', v: 1, ts: 1999 }, time: 1999 });
      if (i === 8) actions.push({ flush: true }, { restore: true });
    });
    const value: WindowSpec = { type: 'tumbling', size: 1000, measure: { by: 'value', value: field('ts') } };
    for (const window of [arrival(1000), value, { type: 'count', size: 2 } as WindowSpec, arrival(0.1)]) {
      const log = expectSame({ source: 's', operators: [where, select, summarize(windowed, ['k'], window)] }, actions);
      expect(log.some((e) => Array.isArray(e) && e.length > 0)).toBe(true);
    }
  });

  it('limits (groups, distinct values) fail the same way', () => {
    const errors: string[] = [];
    const ctx: RuntimeContext = { limits: { maxGroups: 2, maxDistinct: 2, maxOpenWindows: 2 }, onError: (e) => errors.push(e.message) };
    const byValue: WindowSpec = { type: 'tumbling', size: 4000, measure: { by: 'value', value: field('ts') } };
    for (const window of [arrival(5000), byValue]) {
      for (const by of [['k'], []]) expectSame({ source: 's', operators: [where, select, summarize(every, by, window)] }, actionsOf(99, 120), ctx);
    }
    expect(errors.join('\n')).toMatch(/more than 2 groups/);
    expect(errors.join('\n')).toMatch(/more than 2 values/);
  });

  it('without onError the error is thrown, and an onError that throws goes one stage up: the same on both paths', () => {
    const plan: PipelinePlan = {
      source: 's',
      operators: [where, { op: 'select', projection: obj(['...', field('k')], { v: field('v') }) }, summarize(bench, [], { type: 'tumbling', size: 10, measure: { by: 'value', value: field('ts') } })],
    };
    const actions = actionsOf(5, 60);
    expectSame(plan, actions, {});
    const calls: string[] = [];
    const throwing: RuntimeContext = {
      onError: (e) => {
        calls.push(`${e.message}@${e instanceof QueryEvaluationError ? e.operatorIndex : ''}`);
        if (calls.length % 2 === 1) throw new Error(`handler failed on ${calls.length}`);
      },
    };
    const closures = play(plan, actions, false, { ctx: throwing });
    const closureCalls = calls.splice(0);
    expect(play(plan, actions, true, { ctx: throwing })).toEqual(closures);
    expect(calls).toEqual(closureCalls);
    expect(closureCalls.length).toBeGreaterThan(1);
  });
});

describe('the generated stage is the one that runs', () => {
  it('fuses where | select with the tumbling summarize after it', () => {
    const errors: unknown[] = [];
    const ctx: OpContext = { lookup: () => undefined, limits: DEFAULT_LIMITS, report: (e) => errors.push(e), sink: () => undefined, generated: true };
    const operators: Operator[] = [where, select, summarize(bench, ['k'], arrival(1000))];
    const summ = new SummarizeRuntime(operators[2] as SummarizeOp, ctx);
    const out: unknown[] = [];
    const stage = fuseStateless({
      operators, from: 0, to: 2, env: newEnv(() => undefined), maxDepth: 64, sink: () => undefined,
      reports: [0, 1, 2].map(() => (e: unknown) => errors.push(e)),
      tail: { op: summ, next: (r) => out.push(r) },
    });
    expect(stage).not.toBeNull();
    stage!({ k: 'a', v: 2 }, { offset: 0, time: 10 });
    // The generated step ran: the group holds the record before the select, its projection pending.
    const group = [...(summ.current as { groups: Map<string, { last: unknown; pending: unknown }> }).groups.values()][0];
    expect(group.last).toEqual({ k: 'a', v: 2 });
    expect(group.pending).toEqual(expect.any(Function));
    stage!({ k: 'a', v: -1 }, { offset: 1, time: 20 });
    stage!({ k: 'a', v: '3' }, { offset: 2, time: 1500 });
    summ.flush({ offset: 2, time: 1500 }, (r) => out.push(r));
    expect(out).toEqual([{ n: 1, total: 2, k: 'a' }, { n: 1, total: 3, k: 'a' }]);
    expect(errors).toEqual([]);
  });
});
