import { agg, bin, field, lit, obj, v } from './build.js';
import { QueryLimitError, QueryPlanError } from './errors.js';
import type { EmitSpec, Expression, JsonObject, JsonValue, SummarizeOp, WindowSpec } from './plan.js';
import { instantiate, type PipelineRuntime } from './runtime.js';

function summarize(aggregates: Expression, opts: { by?: string[]; window?: WindowSpec; emit?: EmitSpec; windowVar?: string } = {}): SummarizeOp {
  return {
    op: 'summarize',
    aggregates,
    by: (opts.by ?? []).map((p) => ({ expr: field(p), name: p.split('.').pop() })),
    window: opts.window,
    windowVar: opts.windowVar ?? (opts.window ? 'w' : undefined),
    emit: opts.emit ?? (opts.window ? { kind: 'close' } : { kind: 'flush' }),
  };
}

const recordsOf = (outs: ReturnType<PipelineRuntime['push']>) => outs.map((o) => o.record);

/** Pushes records (time = index*1000 unless given); returns the records emitted per push, then the flush's. */
function run(op: SummarizeOp, records: JsonObject[], times?: number[]): JsonValue[][] {
  const p = instantiate({ source: 's', operators: [op] });
  const steps = records.map((r, i) => recordsOf(p.push(r, { offset: i, time: times ? times[i] : i * 1000 })));
  steps.push(recordsOf(p.flush()));
  return steps;
}

// JSONJet's emit demos (packages/core/tests/jet-tests/emit/*.jet) and their expected files.
const sensor = [
  [1000, 20, 'room1'], [2000, 22, 'room1'], [3000, 25, 'room1'], [4000, 28, 'room2'],
  [5000, 30, 'room2'], [6000, 32, 'room2'], [7000, 18, 'room3'], [8000, 20, 'room3'],
].map(([timestamp, temperature, location]) => ({ timestamp, temperature, location }) as JsonObject);
const count = obj({ record_count: agg('count') });

describe('summarize without a window (emit modes, JSONJet expected outputs)', () => {
  it('emit every 3: the first record, then every 3rd, and the state on flush (emit-demo.ndjson)', () => {
    const out = run(summarize(count, { emit: { kind: 'every', interval: 3 } }), sensor).flat();
    expect(out).toEqual([1, 4, 7, 8].map((n) => ({ record_count: n })));
  });

  it('emit every 1000 using timestamp (emit-every-time-demo.ndjson)', () => {
    const out = run(summarize(count, { emit: { kind: 'every', interval: 1000, using: field('timestamp') } }), sensor).flat();
    expect(out).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 8].map((n) => ({ record_count: n })));
  });

  it('emit every 2500 ms of arrival (commit) time', () => {
    // times 0,1000,…,7000: emits at 0, 3000 (3000-0 ≥ 2500), 6000, then flush.
    const out = run(summarize(count, { emit: { kind: 'every', interval: 2500, using: 'arrival' } }), sensor).flat();
    expect(out).toEqual([1, 4, 7, 8].map((n) => ({ record_count: n })));
  });

  it('emit when temperature > 25 (emit-when-demo.ndjson)', () => {
    const out = run(summarize(count, { emit: { kind: 'when', condition: bin('>', field('temperature'), lit(25)) } }), sensor).flat();
    expect(out).toEqual([4, 5, 6, 8].map((n) => ({ record_count: n })));
  });

  it('emit on change location, by location: every group is emitted (emit-on-change-demo.ndjson)', () => {
    const out = run(summarize(count, { by: ['location'], emit: { kind: 'change', value: field('location') } }), sensor);
    const counts = out.map((step) => step.map((r) => (r as JsonObject).record_count));
    expect(counts).toEqual([[1], [], [], [3, 1], [], [], [3, 3, 1], [], [3, 3, 2]]);
    expect(out[3]).toEqual([{ record_count: 3, location: 'room1' }, { record_count: 1, location: 'room2' }]);
  });

  it('emit every 2 with sum by region (emit-sum-demo.ndjson)', () => {
    const sales = [
      { amount: 1200, region: 'north' }, { amount: 25, region: 'north' },
      { amount: 1100, region: 'south' }, { amount: 75, region: 'south' },
    ];
    const spec = obj({ total_sales: agg('sum', field('amount')), transaction_count: agg('count') });
    const out = run(summarize(spec, { by: ['region'], emit: { kind: 'every', interval: 2 } }), sales).flat();
    expect(out.map((r) => [(r as JsonObject).total_sales, (r as JsonObject).transaction_count])).toEqual([
      [1200, 1], [1225, 2], [1100, 1], [1225, 2], [1175, 2],
    ]);
  });

  it('emit on group change', () => {
    const rs = ['a', 'a', 'b', 'b', 'a'].map((k) => ({ k }));
    const out = run(summarize(count, { by: ['k'], emit: { kind: 'groupChange' } }), rs);
    expect(out.map((s) => s.length)).toEqual([1, 0, 2, 0, 2, 2]);
    expect(out[4]).toEqual([{ record_count: 3, k: 'a' }, { record_count: 2, k: 'b' }]);
  });

  it('emit on update: only when the updated group result differs from what was last emitted', () => {
    const rs = [{ x: 1 }, { x: 1 }, { x: 3 }, { x: 2 }];
    const out = run(summarize(obj({ top: agg('max', field('x')) }), { emit: { kind: 'update' } }), rs);
    expect(out).toEqual([[{ top: 1 }], [], [{ top: 3 }], [], [{ top: 3 }]]);
  });

  it('without window or emit clause, accumulates and emits on flush (and keeps accumulating)', () => {
    const p = instantiate({ source: 's', operators: [summarize(count, { by: ['location'] })] });
    sensor.forEach((r, i) => expect(p.push(r, { offset: i, time: 0 })).toEqual([]));
    expect(recordsOf(p.flush())).toEqual([
      { record_count: 3, location: 'room1' }, { record_count: 3, location: 'room2' }, { record_count: 2, location: 'room3' },
    ]);
    p.push(sensor[0], { offset: 9, time: 0 });
    expect(recordsOf(p.flush())[0]).toEqual({ record_count: 4, location: 'room1' });
  });

  it('every aggregate, with scalars over aggregates and the last record', () => {
    const rs: JsonObject[] = [{ x: 4, s: 'b' }, { x: '6', s: 'a' }, { x: null, s: 'c' }, { s: 'a' }, { x: 2, s: 'd' }];
    const spec = obj({
      n: agg('count'),
      nx: agg('count', field('x')),
      sum: agg('sum', field('x')),
      avg: agg('avg', field('x')),
      min: agg('min', field('x')),
      max: agg('max', field('s')),
      first: agg('first', field('x')),
      last: agg('last', field('s')),
      big: agg('count_if', bin('>', field('x'), lit(3))),
      distinct: agg('count_distinct', field('s')),
      ratio: bin('/', agg('sum', field('x')), agg('count')),
      latest: field('s'),
    });
    expect(run(summarize(spec), rs).flat()).toEqual([
      // sum coerces '6' (JSONJet Sum._validateAndCoerce); min compares 4, '6', 2 → numbers first; max of strings
      { n: 5, nx: 3, sum: 12, avg: 4, min: 2, max: 'd', first: 4, last: 'd', big: 2, distinct: 4, ratio: 2.4, latest: 'd' },
    ]);
  });

  it('aggregates of an empty argument set', () => {
    const spec = obj({ s: agg('sum', field('x')), a: agg('avg', field('x')), m: agg('min', field('x')), f: agg('first', field('x')) });
    expect(run(summarize(spec), [{}]).flat()).toEqual([{ s: 0, a: null, m: null, f: null }]);
  });

  it('group keys are added when the output lacks them, by expression value (objects too)', () => {
    const rs: JsonObject[] = [{ g: { a: 1, b: 2 } }, { g: { b: 2, a: 1 } }, { g: { a: 2 } }];
    const out = run(summarize(count, { by: ['g'] }), rs).flat();
    expect(out).toEqual([{ record_count: 2, g: { a: 1, b: 2 } }, { record_count: 1, g: { a: 2 } }]);
    const own = run(summarize(obj({ g: lit('mine'), c: agg('count') }), { by: ['g'] }), rs).flat();
    expect(own[0]).toEqual({ g: 'mine', c: 2 });
  });

  it('refuses more groups than maxGroups with a QueryLimitError, and nothing changes', () => {
    const errors: unknown[] = [];
    const p = instantiate({ source: 's', operators: [summarize(count, { by: ['k'] })] }, { limits: { maxGroups: 2 }, onError: (e) => errors.push(e) });
    ['a', 'b', 'c', 'a'].forEach((k, i) => p.push({ k }, { offset: i, time: 0 }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(QueryLimitError);
    expect(recordsOf(p.flush())).toEqual([{ record_count: 2, k: 'a' }, { record_count: 1, k: 'b' }]);
    const q = instantiate({ source: 's', operators: [summarize(count, { by: ['k'] })] }, { limits: { maxGroups: 1 } });
    q.push({ k: 'a' }, { offset: 0, time: 0 });
    expect(() => q.push({ k: 'b' }, { offset: 1, time: 0 })).toThrow(QueryLimitError);
  });
});

// JSONJet summarize-demo.jet: `summarize { ...window, total_amount: sum(amount), count: count() } by product
// over window = tumbling_window(2)`, expected summarize-demo.ndjson (plus the product key we add).
const sales = [
  ['laptop', 1200], ['mouse', 25], ['laptop', 1100], ['keyboard', 75], ['laptop', 1300], ['mouse', 30], ['laptop', 1150],
].map(([product, amount]) => ({ product, amount }) as JsonObject);

describe('summarize over windows', () => {
  const win = (id: number, start: number, end: number, extra: JsonObject = {}) => ({
    _id: id, windowId: id, start, end, type: 'tumbling', mode: 'count', size: 2, ...extra,
  });

  it('tumbling count window: emitted when full, the open one on flush (summarize-demo.ndjson)', () => {
    const spec = obj(['...', v('window')], { total_amount: agg('sum', field('amount')), count: agg('count') });
    const out = run(summarize(spec, { by: ['product'], window: { type: 'tumbling', size: 2, measure: { by: 'count' } }, windowVar: 'window' }), sales);
    expect(out.map((s) => s.length)).toEqual([0, 2, 0, 2, 0, 2, 0, 1]);
    expect(out[1]).toEqual([
      { ...win(0, 0, 2), total_amount: 1200, count: 1, product: 'laptop' },
      { ...win(0, 0, 2), total_amount: 25, count: 1, product: 'mouse' },
    ]);
    expect(out[7]).toEqual([{ ...win(3, 6, 8), total_amount: 1150, count: 1, product: 'laptop' }]);
  });

  it('count_window(3): JSONJet count window shape', () => {
    const spec = obj(['...', v('w')], { n: agg('count') });
    const out = run(summarize(spec, { window: { type: 'count', size: 3 } }), sales).flat();
    expect(out).toEqual([
      { _id: 0, windowId: 0, start: 0, end: 3, type: 'count', mode: 'count', count: 3, n: 3 },
      { _id: 1, windowId: 1, start: 3, end: 6, type: 'count', mode: 'count', count: 3, n: 3 },
      { _id: 2, windowId: 2, start: 6, end: 9, type: 'count', mode: 'count', count: 3, n: 1 },
    ]);
  });

  it('hopping count window (size 3, hop 2): windows [0,3) [2,5) [4,7) [6,9)', () => {
    const spec = obj({ id: { kind: 'get', object: v('w'), key: '_id' }, total: agg('sum', field('amount')) });
    const out = run(summarize(spec, { window: { type: 'hopping', size: 3, hop: 2, measure: { by: 'count' } } }), sales);
    // records 0..6: [0,3) closes after record 2, [2,5) after 4, [4,7) after 6, [6,9) on flush
    expect(out).toEqual([[], [], [{ id: 0, total: 2325 }], [], [{ id: 1, total: 2475 }], [], [{ id: 2, total: 2480 }], [{ id: 3, total: 1150 }]]);
  });

  it('tumbling window by a value field: closes when a record past its end arrives; a late record is dropped', () => {
    const rs = [1, 4, 12, 3, 19, 25].map((ts) => ({ ts, x: 1 }));
    const spec = obj({ start: { kind: 'get', object: v('w'), key: 'start' }, n: agg('count') });
    const out = run(summarize(spec, { window: { type: 'tumbling', size: 10, measure: { by: 'value', value: field('ts') } } }), rs);
    // ts 12 closes [0,10); ts 3 is late (window closed): dropped; ts 25 closes [10,20); flush emits [20,30)
    expect(out).toEqual([[], [], [{ start: 0, n: 2 }], [], [], [{ start: 10, n: 2 }], [{ start: 20, n: 1 }]]);
  });

  it('a window value that is not a number is an evaluation error with the offset, and the flow goes on', () => {
    const errors: Array<{ offset: number }> = [];
    const op = summarize(obj({ n: agg('count') }), { window: { type: 'tumbling', size: 10, measure: { by: 'value', value: field('ts') } } });
    const p = instantiate({ source: 's', operators: [op] }, { onError: (e) => errors.push(e as never) });
    p.push({ ts: 1 }, { offset: 7, time: 0 });
    p.push({ ts: 'x' }, { offset: 8, time: 0 });
    p.push({ ts: 2 }, { offset: 9, time: 0 });
    expect(errors.map((e) => e.offset)).toEqual([8]);
    expect(recordsOf(p.flush())).toEqual([{ n: 2 }]);
  });

  it('hopping window by value', () => {
    const rs = [0, 5, 10, 16].map((ts) => ({ ts }));
    const spec = obj({ s: { kind: 'get', object: v('w'), key: 'start' }, n: agg('count') });
    const out = run(summarize(spec, { window: { type: 'hopping', size: 10, hop: 5, measure: { by: 'value', value: field('ts') } } }), rs);
    // windows [-5,5) [0,10) [5,15) [10,20) [15,25)
    expect(out).toEqual([
      [],
      [{ s: -5, n: 1 }], // ts 5 closes [-5,5)
      [{ s: 0, n: 2 }], // ts 10 closes [0,10)
      [{ s: 5, n: 2 }], // ts 16 closes [5,15)
      [{ s: 10, n: 2 }, { s: 15, n: 1 }],
    ]);
  });

  it('tumbling window by arrival time: closed by a later record or by advance(), never by the wall clock', () => {
    const op = summarize(obj({ start: { kind: 'get', object: v('w'), key: 'start' }, n: agg('count') }), {
      window: { type: 'tumbling', size: 60_000, measure: { by: 'arrival' } },
    });
    const p = instantiate({ source: 's', operators: [op] });
    expect(p.nextClose()).toBeNull();
    expect(p.push({}, { offset: 0, time: 1_000 })).toEqual([]);
    expect(p.push({}, { offset: 1, time: 59_999 })).toEqual([]);
    expect(p.nextClose()).toBe(60_000); // when to tick
    expect(p.advance(59_999)).toEqual([]);
    expect(recordsOf(p.advance(60_000))).toEqual([{ start: 0, n: 2 }]);
    expect(p.nextClose()).toBeNull();
    expect(p.push({}, { offset: 2, time: 61_000 })).toEqual([]);
    expect(recordsOf(p.push({}, { offset: 3, time: 125_000 }))).toEqual([{ start: 60_000, n: 1 }]);
    expect(recordsOf(p.flush())).toEqual([{ start: 120_000, n: 1 }]);
  });

  it('sliding count window: at every record, the last N records', () => {
    const spec = obj(['...', v('w')], { total: agg('sum', field('amount')) });
    const out = run(summarize(spec, { window: { type: 'sliding', size: 3, measure: { by: 'count' } } }), sales.slice(0, 4));
    const w = (i: number, start: number) => ({ _id: i, windowId: i, start, end: i + 1, type: 'sliding', mode: 'count', size: 3 });
    expect(out).toEqual([
      [{ ...w(0, 0), total: 1200 }], [{ ...w(1, 0), total: 1225 }], [{ ...w(2, 0), total: 2325 }], [{ ...w(3, 1), total: 1200 }], [],
    ]);
  });

  it('sliding window by value: the records within size of each record', () => {
    const rs = [0, 3, 7, 12].map((ts) => ({ ts }));
    const spec = obj({ n: agg('count'), end: { kind: 'get', object: v('w'), key: 'end' } });
    const out = run(summarize(spec, { window: { type: 'sliding', size: 5, measure: { by: 'value', value: field('ts') } } }), rs);
    expect(out).toEqual([[{ n: 1, end: 1 }], [{ n: 2, end: 4 }], [{ n: 2, end: 8 }], [{ n: 1, end: 13 }], []]);
  });

  it('session window by value: a gap over the timeout closes the session (ids from 1, as JSONJet)', () => {
    const rs = [1, 3, 4, 20, 22].map((ts) => ({ ts }));
    const spec = obj(['...', v('w')], { n: agg('count') });
    const out = run(summarize(spec, { window: { type: 'session', timeout: 5, measure: { by: 'value', value: field('ts') } } }), rs);
    const s = (id: number, start: number, end: number) => ({ _id: id, windowId: id, start, end, type: 'session', mode: 'value', timeout: 5 });
    expect(out).toEqual([[], [], [], [{ ...s(1, 1, 9), n: 3 }], [], [{ ...s(2, 20, 27), n: 2 }]]);
  });

  it('session window by arrival time closes on advance past the gap', () => {
    const op = summarize(obj({ n: agg('count') }), { by: ['u'], window: { type: 'session', timeout: 1000, measure: { by: 'arrival' } } });
    const p = instantiate({ source: 's', operators: [op] });
    p.push({ u: 'a' }, { offset: 0, time: 0 });
    p.push({ u: 'b' }, { offset: 1, time: 500 });
    expect(p.nextClose()).toBe(1501);
    expect(p.advance(1500)).toEqual([]);
    expect(recordsOf(p.advance(1501))).toEqual([{ n: 1, u: 'a' }, { n: 1, u: 'b' }]);
    expect(p.flush()).toEqual([]);
  });

  it('by expressions may read the window variable', () => {
    const op: SummarizeOp = {
      ...summarize(obj({ n: agg('count') }), { window: { type: 'tumbling', size: 2, measure: { by: 'count' } } }),
      by: [{ expr: { kind: 'get', object: v('w'), key: '_id' }, name: 'wid' }],
    };
    expect(run(op, sales.slice(0, 3)).flat()).toEqual([{ n: 2, wid: 0 }, { n: 1, wid: 1 }]);
  });

  it('plan checks: emit clause with a window, bad sizes, too many open windows', () => {
    const bad = (op: SummarizeOp) => () => instantiate({ source: 's', operators: [op] });
    const base = summarize(count, { window: { type: 'tumbling', size: 2, measure: { by: 'count' } } });
    expect(bad({ ...base, emit: { kind: 'every', interval: 2 } })).toThrow(QueryPlanError);
    expect(bad({ ...base, window: { type: 'tumbling', size: 0, measure: { by: 'count' } } })).toThrow(/positive/);
    expect(bad({ ...base, window: { type: 'tumbling', size: 1.5, measure: { by: 'count' } } })).toThrow(/whole/);
    expect(bad({ ...base, window: { type: 'session', timeout: 5, measure: { by: 'count' } } })).toThrow(/session/);
    expect(bad({ ...base, window: { type: 'hopping', size: 1e6, hop: 1, measure: { by: 'arrival' } } })).toThrow(QueryLimitError);
  });
});
