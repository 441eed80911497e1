import { agg, bin, call, field, lit, lookupRef, obj, v } from './build.js';
import { QueryEvaluationError, QueryPlanError } from './errors.js';
import type { JsonObject, JsonValue, PipelinePlan } from './plan.js';
import { instantiate, type Output } from './runtime.js';

const meta = (offset: number, time = offset * 100) => ({ offset, time });

describe('pipeline runtime', () => {
  it('where, select and insert_into: sink outputs name their stream, records reaching the end are results', () => {
    const plan: PipelinePlan = {
      source: 'products',
      operators: [
        { op: 'where', condition: bin('>', field('price'), lit(100)) },
        { op: 'insert_into', stream: 'expensive' },
        { op: 'select', projection: obj({ name: field('name') }) },
      ],
    };
    const p = instantiate(plan);
    expect(p.push({ name: 'Laptop', price: 999.99 }, meta(0))).toEqual([
      { kind: 'sink', target: 'expensive', record: { name: 'Laptop', price: 999.99 } },
      { kind: 'record', record: { name: 'Laptop' } },
    ]);
    expect(p.push({ name: 'Mouse', price: 25 }, meta(1))).toEqual([]);
  });

  it('select forms (JSONJet select-demo.jet expected outputs)', () => {
    const users: JsonObject[] = [
      { name: 'John', surname: 'Doe', age: 30, email: 'john@example.com', password: 'secret123', ssn: '123-45-6789' },
      { name: 'Jane', age: 25 },
      { name: 'Bob', surname: 'Wilson', age: null, email: 'bob@example.com' },
      { name: 'Alice' },
    ];
    const sel = (projection: ReturnType<typeof obj>) => {
      const p = instantiate({ source: 'u', operators: [{ op: 'select', projection }] });
      return users.map((u, i) => p.push(u, meta(i))[0].record);
    };
    expect(sel(obj({ name: field('name'), age: field('age'), email: field('email') }))).toEqual([
      { age: 30, email: 'john@example.com', name: 'John' }, { age: 25, name: 'Jane' }, { age: null, email: 'bob@example.com', name: 'Bob' }, { name: 'Alice' },
    ]);
    const transformed = sel(obj('...*', {
      full_name: bin('+', bin('+', field('name'), lit(' ')), field('surname')),
      is_adult: bin('&&', field('age'), bin('>=', field('age'), lit(18))),
    }));
    expect(transformed[1]).toEqual({ age: 25, full_name: 'Jane undefined', is_adult: true, name: 'Jane' });
    expect(transformed[2]).toEqual({ age: null, email: 'bob@example.com', full_name: 'Bob Wilson', is_adult: null, name: 'Bob', surname: 'Wilson' });
    expect(transformed[3]).toEqual({ full_name: 'Alice undefined', name: 'Alice' });
    expect(sel(obj('...*', '-password', '-ssn', { safe_age: bin('||', field('age'), lit(0)) }))).toEqual([
      { age: 30, email: 'john@example.com', name: 'John', safe_age: 30, surname: 'Doe' },
      { age: 25, name: 'Jane', safe_age: 25 },
      { age: null, email: 'bob@example.com', name: 'Bob', safe_age: 0, surname: 'Wilson' },
      { name: 'Alice', safe_age: 0 },
    ]);
  });

  it('lookups are resolved on every record', () => {
    const table: Record<string, JsonValue> = { threshold: 10 };
    const p = instantiate(
      { source: 's', operators: [{ op: 'where', condition: bin('>', field('x'), lookupRef('threshold')) }] },
      { lookup: (n) => table[n] },
    );
    expect(p.push({ x: 11 }, meta(0))).toHaveLength(1);
    table.threshold = 20;
    expect(p.push({ x: 11 }, meta(1))).toHaveLength(0);
  });

  it('an evaluation error is thrown as QueryEvaluationError with the offset when no onError is given', () => {
    const p = instantiate({ source: 's', operators: [{ op: 'select', projection: obj(['...', field('x')]) }] });
    expect(() => p.push({ x: 1 }, meta(42))).toThrow(QueryEvaluationError);
    try {
      p.push({ x: 1 }, meta(43));
    } catch (e) {
      expect(e).toMatchObject({ offset: 43, operatorIndex: 0 });
      expect((e as Error).message).toMatch(/^select: cannot spread a number/);
    }
    expect(p.push({ x: { a: 1 } }, meta(44))[0].record).toEqual({ a: 1 }); // still usable
  });

  it('flush output goes through the operators after the summarize', () => {
    const p = instantiate({
      source: 's',
      operators: [
        { op: 'summarize', aggregates: obj({ n: agg('count') }), by: [], emit: { kind: 'flush' } },
        { op: 'where', condition: bin('>', field('n'), lit(1)) },
        { op: 'insert_into', stream: 'counts' },
      ],
    });
    p.push({}, meta(0));
    expect(p.flush()).toEqual([]);
    p.push({}, meta(1));
    expect(p.flush()).toEqual([{ kind: 'sink', target: 'counts', record: { n: 2 } }, { kind: 'record', record: { n: 2 } }]);
  });

  it('rejects a snapshot from another plan or version', () => {
    const a = instantiate({ source: 's', operators: [{ op: 'where', condition: lit(true) }] });
    const snap = a.snapshot();
    expect(() => instantiate({ source: 's', operators: [{ op: 'where', condition: lit(false) }] }, {}, snap)).toThrow(QueryPlanError);
    expect(() => instantiate(a.plan, {}, { v: 99 })).toThrow(/version/);
  });
});

// ----------------------------------------------------------------------------------------------- determinism

/** A small deterministic PRNG, so the property test is the same on every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
}

type Step = { kind: 'push'; record: JsonObject; time: number } | { kind: 'advance'; time: number } | { kind: 'flush' };

function script(seed: number, n: number): Step[] {
  const r = rng(seed);
  const steps: Step[] = [];
  let time = 0;
  for (let i = 0; i < n; i++) {
    time += Math.floor(r() * 400);
    const x = r();
    if (x < 0.08) steps.push({ kind: 'advance', time: time + Math.floor(r() * 500) });
    else if (x < 0.11) steps.push({ kind: 'flush' });
    else {
      const record: JsonObject = { k: ['a', 'b', 'c'][Math.floor(r() * 3)], v: Math.floor(r() * 100), ts: time };
      if (r() < 0.03) record.ts = 'bad'; // a poison record now and then
      steps.push({ kind: 'push', record, time });
    }
  }
  return steps;
}

const w = (key: string) => ({ kind: 'get' as const, object: v('w'), key });
const spec = obj(['...', v('w')], { n: agg('count'), total: agg('sum', field('v')), hi: agg('max', field('v')), first: agg('first', field('k')) });
const by = [{ expr: field('k'), name: 'k' }];
const plans: Array<[string, PipelinePlan]> = [
  ['tumbling by arrival', { source: 's', operators: [{ op: 'summarize', aggregates: spec, by, window: { type: 'tumbling', size: 1000, measure: { by: 'arrival' } }, windowVar: 'w', emit: { kind: 'close' } }] }],
  ['hopping by value', { source: 's', operators: [{ op: 'summarize', aggregates: spec, by, window: { type: 'hopping', size: 1500, hop: 500, measure: { by: 'value', value: field('ts') } }, windowVar: 'w', emit: { kind: 'close' } }] }],
  ['tumbling count', { source: 's', operators: [{ op: 'summarize', aggregates: spec, by, window: { type: 'tumbling', size: 4, measure: { by: 'count' } }, windowVar: 'w', emit: { kind: 'close' } }] }],
  ['sliding by arrival', { source: 's', operators: [{ op: 'summarize', aggregates: spec, by, window: { type: 'sliding', size: 800, measure: { by: 'arrival' } }, windowVar: 'w', emit: { kind: 'close' } }] }],
  ['session by value', { source: 's', operators: [{ op: 'summarize', aggregates: spec, by, window: { type: 'session', timeout: 300, measure: { by: 'value', value: field('ts') } }, windowVar: 'w', emit: { kind: 'close' } }] }],
  ['emit every 3 + distinct', { source: 's', operators: [{ op: 'summarize', aggregates: obj({ d: agg('count_distinct', field('v')), a: agg('avg', field('v')) }), by, emit: { kind: 'every', interval: 3 } }] }],
  ['emit on update', { source: 's', operators: [{ op: 'summarize', aggregates: obj({ hi: agg('max', field('v')) }), by, emit: { kind: 'update' } }] }],
  ['emit on change', { source: 's', operators: [{ op: 'summarize', aggregates: obj({ n: agg('count') }), by, emit: { kind: 'change', value: field('k') } }] }],
  ['scan then summarize', {
    source: 's',
    operators: [
      { op: 'scan', steps: [
        { name: 'lo', condition: bin('<', field('v'), lit(50)), statements: [{ kind: 'assign', target: ['lo'], value: field('v') }] },
        { name: 'hi', condition: bin('>=', field('v'), lit(50)), statements: [{ kind: 'emit', value: obj({ k: field('k'), v: bin('-', field('v'), field('lo')), ts: field('ts') }) }] },
      ] },
      { op: 'summarize', aggregates: obj({ s: agg('sum', field('v')), e: w('end') }), by: [], window: { type: 'tumbling', size: 2, measure: { by: 'count' } }, windowVar: 'w', emit: { kind: 'close' } },
      { op: 'select', projection: obj('...*', { x: call('round', field('s')) }) },
    ],
  }],
];

function play(plan: PipelinePlan, steps: Step[], restoreAt: number | null): string[] {
  const log: string[] = [];
  const ctx = { onError: (e: Error & { offset?: number }) => log.push(`error@${e.offset}: ${e.message}`) };
  let p = instantiate(plan, ctx);
  const record = (outs: Output[]) => outs.forEach((o) => log.push(JSON.stringify(o)));
  steps.forEach((s, i) => {
    if (i === restoreAt) p = instantiate(plan, ctx, JSON.parse(JSON.stringify(p.snapshot())));
    if (s.kind === 'push') record(p.push(s.record, { offset: i, time: s.time }));
    else if (s.kind === 'advance') record(p.advance(s.time));
    else record(p.flush());
  });
  record(p.flush());
  return log;
}

describe('determinism: the same input gives the same output, also after snapshot/restore at any point', () => {
  it.each(plans)('%s', (_name, plan) => {
    const steps = script(plan.operators.length * 7919 + JSON.stringify(plan).length, 60);
    const reference = play(plan, steps, null);
    expect(reference.length).toBeGreaterThan(3);
    expect(play(plan, steps, null)).toEqual(reference);
    for (let at = 0; at <= steps.length; at++) expect(play(plan, steps, at)).toEqual(reference);
  });
});
