import type { Expression, JsonValue, Operator, PipelinePlan } from '../../../core/query/index.js';
import { JetParseError } from './errors.js';
import { parseJet, parseJetExpression } from './parser.js';
import type { JetStatement } from './statements.js';

const one = (text: string): JetStatement => {
  const all = parseJet(text);
  expect(all).toHaveLength(1);
  return all[0];
};
const ops = (text: string): Operator[] => (one(text) as Extract<JetStatement, { kind: 'query' }>).pipeline.operators;
const e = (text: string) => parseJetExpression(text);
const f = (...path: string[]): Expression => ({ kind: 'field', path });
const lit = (value: JsonValue): Expression => ({ kind: 'literal', value });

/** The reason, line and column of the parse error of `text`. */
function errorOf(text: string, options?: Parameters<typeof parseJet>[1]): [string, number, number] {
  try {
    parseJet(text, options);
  } catch (err) {
    expect(err).toBeInstanceOf(JetParseError);
    const j = err as JetParseError;
    expect(j.message).toContain(`line ${j.line}, column ${j.column}`);
    return [j.reason, j.line, j.column];
  }
  throw new Error('expected a parse error');
}

describe('JET statements', () => {
  it('create stream, with or replace / if not exists, keywords in any case', () => {
    expect(one('create stream s1')).toMatchObject({ kind: 'create_stream', name: 's1', mode: 'create', text: 'create stream s1' });
    expect(one('CREATE OR REPLACE STREAM Sensor')).toMatchObject({ kind: 'create_stream', name: 'Sensor', mode: 'or_replace' });
    expect(one('create if not exists stream s')).toMatchObject({ mode: 'if_not_exists' });
  });

  it('delete / drop stream, flow, lookup', () => {
    expect(one('delete stream a')).toMatchObject({ kind: 'delete_stream', name: 'a' });
    expect(one('drop flow b')).toMatchObject({ kind: 'delete_flow', name: 'b' });
    expect(one('delete lookup c')).toMatchObject({ kind: 'delete_lookup', name: 'c' });
  });

  it('list [streams|flows|lookups|subscriptions] (singular too), info [name], flush, subscribe, unsubscribe', () => {
    expect(one('list')).toMatchObject({ kind: 'list', target: 'streams' });
    expect(one('list flows')).toMatchObject({ target: 'flows' });
    expect(one('list lookup')).toMatchObject({ target: 'lookups' });
    expect(one('list subscriptions')).toMatchObject({ target: 'subscriptions' });
    expect(one('info')).toEqual(expect.objectContaining({ kind: 'info' }));
    expect(one('info s')).toMatchObject({ kind: 'info', name: 's' });
    expect(one('flush sales')).toMatchObject({ kind: 'flush', stream: 'sales' });
    expect(one('subscribe s')).toMatchObject({ kind: 'subscribe', stream: 's' });
    expect(one('unsubscribe 3')).toMatchObject({ kind: 'unsubscribe', subscriptionId: 3 });
    expect(one('unsubscribe')).toMatchObject({ kind: 'unsubscribe' });
  });

  it('insert into: an object or an array, JSON with unquoted keys, single quotes, trailing commas, comments', () => {
    expect(one('insert into s { a: 1, "b c": \'x\', n: -2.5, t: true, f: false, z: null, l: [1, {k: 2},], }')).toMatchObject({
      kind: 'insert',
      stream: 's',
      records: [{ a: 1, 'b c': 'x', n: -2.5, t: true, f: false, z: null, l: [1, { k: 2 }] }],
    });
    expect((one('insert into s [ {a: 1}, // first\n {a: 2} ]') as { records: unknown[] }).records).toEqual([{ a: 1 }, { a: 2 }]);
    expect(errorOf('insert into s 5')).toEqual(['insert into needs an object or an array of objects', 1, 15]);
    expect(errorOf('insert into s [{}, 1]')[0]).toBe('record 2 of the array is not an object');
    expect(errorOf('insert into s {a: x}')[0]).toMatch(/expected a constant value/);
  });

  it('create lookup NAME = constant', () => {
    expect(one('create lookup x = 42')).toMatchObject({ kind: 'create_lookup', name: 'x', value: 42, mode: 'create' });
    expect(one('create or replace lookup cfg = {"timeout": 5000, retries: 3}')).toMatchObject({ value: { timeout: 5000, retries: 3 }, mode: 'or_replace' });
    expect(one('create lookup items = [1, 2, 3]')).toMatchObject({ value: [1, 2, 3] });
  });

  it('create flow NAME [ttl(…)] as pipeline, with the query text', () => {
    const s = one('create or replace flow hi ttl(2m) as events | where amount > 100 | insert_into(big)');
    expect(s).toMatchObject({
      kind: 'create_flow', name: 'hi', mode: 'or_replace', ttlMs: 120_000, query: 'events | where amount > 100 | insert_into(big)',
      pipeline: { source: 'events', operators: [{ op: 'where' }, { op: 'insert_into', stream: 'big' }] },
    });
    expect(one('create flow f ttl("1h") as s')).toMatchObject({ ttlMs: 3_600_000, pipeline: { source: 's', operators: [] } });
    expect(errorOf('create flow f ttl(5) as s')[0]).toMatch(/ttl needs a duration/);
  });

  it('an anonymous pipeline is a live query; a command word before | is a stream name', () => {
    expect(one('sensor | where t > 1')).toMatchObject({ kind: 'query', pipeline: { source: 'sensor' } });
    expect(one('flush | where t > 1')).toMatchObject({ kind: 'query', pipeline: { source: 'flush' } });
    expect(one('sensor')).toMatchObject({ kind: 'query', pipeline: { source: 'sensor', operators: [] } });
  });

  it('several statements separated by ; (empty ones skipped), each with its position and text', () => {
    const all = parseJet('create stream a;\n\n  insert into a {x: 1};;\nflush a;');
    expect(all.map((s) => [s.kind, s.at.line, s.at.column, s.text])).toEqual([
      ['create_stream', 1, 1, 'create stream a'],
      ['insert', 3, 3, 'insert into a {x: 1}'],
      ['flush', 4, 1, 'flush a'],
    ]);
    expect(parseJet('  // nothing\n ; ')).toEqual([]);
  });

  it('errors name the line and column', () => {
    expect(errorOf('create stream a;\ncreate stram b')).toEqual(["expected stream, flow or lookup after 'create', found 'stram'", 2, 8]);
    expect(errorOf('create stream a b')).toEqual(["expected ';' or the end of the statement, found 'b'", 1, 17]);
    expect(errorOf('s | where')).toEqual(['expected a value, found the end of the input', 1, 10]);
    expect(errorOf('s | sort by x')).toEqual([expect.stringMatching(/expected an operator/), 1, 5]);
    expect(errorOf('s | where a = 1')[0]).toMatch(/compare with '=='/);
    expect(errorOf('123')[0]).toMatch(/expected a statement/);
  });

  it('bounds: input length, statement length and nesting depth', () => {
    expect(errorOf('create stream abc', { maxLength: 5 })[0]).toMatch(/exceeds the limit of 5/);
    expect(errorOf('create stream a; create stream abcdefgh', { maxStatementLength: 16 })).toEqual([
      'statement of 22 characters exceeds the limit of 16', 1, 18,
    ]);
    const deep = `s | where ${'('.repeat(30)}1${')'.repeat(30)}`;
    expect(errorOf(deep, { maxDepth: 10 })[0]).toBe('nesting deeper than 10 levels');
    expect(() => parseJet(deep, { maxDepth: 40 })).not.toThrow();
    expect(errorOf(`insert into s ${'['.repeat(20)}${']'.repeat(20)}`, { maxDepth: 10 })[0]).toMatch(/nesting deeper/);
    // deep input never overflows the stack: the bound fails first
    expect(errorOf(`s | where ${'-'.repeat(100_000)}1`)[0]).toMatch(/nesting deeper than 64/);
  });
});

describe('JET operators', () => {
  it('where EXPR', () => {
    expect(ops('s | where price > 100')).toEqual([{ op: 'where', condition: { kind: 'binary', op: '>', left: f('price'), right: lit(100) } }]);
  });

  it('select: properties, shorthand, ...*, ...expr, -field, string keys', () => {
    const [sel] = ops('s | select { ...*, a, b: x + 1, "c d": 2, ...meta, -password, pi(), }');
    expect(sel).toEqual({
      op: 'select',
      projection: {
        kind: 'object',
        entries: [
          { kind: 'spreadRecord' },
          { kind: 'property', key: 'a', value: f('a') },
          { kind: 'property', key: 'b', value: { kind: 'binary', op: '+', left: f('x'), right: lit(1) } },
          { kind: 'property', key: 'c d', value: lit(2) },
          { kind: 'spread', value: f('meta') },
          { kind: 'exclude', key: 'password' },
          { kind: 'property', key: 'pi', value: { kind: 'call', name: 'pi', args: [] } },
        ],
      },
    });
  });

  it('scan(step NAME: COND => assignments, emit(...); …)', () => {
    const [scan] = ops('s | scan(step sum: true => sum.total = (sum.total || 0) + x, emit({ input: x });\n step b: x > 2 => n = 1;)');
    expect(scan).toEqual({
      op: 'scan',
      steps: [
        {
          name: 'sum',
          condition: lit(true),
          statements: [
            { kind: 'assign', target: ['sum', 'total'], value: { kind: 'binary', op: '+', left: { kind: 'binary', op: '||', left: f('sum', 'total'), right: lit(0) }, right: f('x') } },
            { kind: 'emit', value: { kind: 'object', entries: [{ kind: 'property', key: 'input', value: f('x') }] } },
          ],
        },
        { name: 'b', condition: { kind: 'binary', op: '>', left: f('x'), right: lit(2) }, statements: [{ kind: 'assign', target: ['n'], value: lit(1) }] },
      ],
    });
    expect(errorOf('s | scan(step a: true => x + 1)')[0]).toMatch(/expected '=' in the assignment to x/);
    expect(errorOf('s | scan(step a: true => n = 1; step a: true => n = 2)')).toEqual(["step 'a' is defined twice", 1, 38]);
    expect(errorOf('s | select { x: emit(1) }')[0]).toMatch(/only valid as a statement of a scan step/);
  });

  it('summarize {aggregates} by …: aggregates anywhere in the object, group key names', () => {
    const [sum] = ops('s | summarize { n: count(), avg: div(sum(v), count()), hi: max(v), pair: max(a, b), nested: { f: first(x) } } by region, loc.city, tostring(k)');
    expect(sum).toMatchObject({
      op: 'summarize',
      aggregates: {
        entries: [
          { key: 'n', value: { kind: 'aggregate', fn: 'count', args: [] } },
          { key: 'avg', value: { kind: 'call', name: 'div', args: [{ kind: 'aggregate', fn: 'sum', args: [f('v')] }, { kind: 'aggregate', fn: 'count' }] } },
          { key: 'hi', value: { kind: 'aggregate', fn: 'max' } },
          { key: 'pair', value: { kind: 'call', name: 'max' } }, // two arguments: the scalar max
          { key: 'nested', value: { kind: 'object', entries: [{ key: 'f', value: { kind: 'aggregate', fn: 'first' } }] } },
        ],
      },
      by: [{ expr: f('region'), name: 'region' }, { expr: f('loc', 'city'), name: 'city' }, { expr: { kind: 'call', name: 'tostring' } }],
      emit: { kind: 'flush' },
    });
    expect(errorOf('s | summarize { n: sum(count()) }')).toEqual(['aggregate count() cannot be nested in sum()', 1, 24]);
    expect(errorOf('s | where count() > 1')[0]).toBe('unknown function count() (aggregates are only allowed in summarize)');
    expect(errorOf('s | summarize { n: sum() }')[0]).toBe('sum() takes 1 argument(s), got 0');
  });

  it.each([
    ['tumbling_window(2)', { type: 'tumbling', size: 2, measure: { by: 'count' } }],
    ['tumbling_window(5m)', { type: 'tumbling', size: 300_000, measure: { by: 'arrival' } }],
    ['tumbling_window(10, ts)', { type: 'tumbling', size: 10, measure: { by: 'value', value: f('ts') } }],
    ['tumbling_window_by(1h, payload.ts)', { type: 'tumbling', size: 3_600_000, measure: { by: 'value', value: f('payload', 'ts') } }],
    ['hopping_window(10, 5)', { type: 'hopping', size: 10, hop: 5, measure: { by: 'count' } }],
    ['hopping_window(5m, 1m)', { type: 'hopping', size: 300_000, hop: 60_000, measure: { by: 'arrival' } }],
    ['hopping_window_by(10, 2, ts)', { type: 'hopping', size: 10, hop: 2, measure: { by: 'value', value: f('ts') } }],
    ['sliding_window(100)', { type: 'sliding', size: 100, measure: { by: 'count' } }],
    ['sliding_window_by(30s, ts)', { type: 'sliding', size: 30_000, measure: { by: 'value', value: f('ts') } }],
    ['count_window(3)', { type: 'count', size: 3 }],
    ['session_window(30m)', { type: 'session', timeout: 1_800_000, measure: { by: 'arrival' } }],
    ['session_window(5, ts)', { type: 'session', timeout: 5, measure: { by: 'value', value: f('ts') } }],
  ])('summarize … over w = %s', (win, window) => {
    const [sum] = ops(`s | summarize { ...w, n: count(), s: w.start } by k over w = ${win}`);
    expect(sum).toMatchObject({ window, windowVar: 'w', emit: { kind: 'close' } });
    expect((sum as { aggregates: { entries: unknown[] } }).aggregates.entries).toEqual([
      { kind: 'spread', value: { kind: 'var', name: 'w' } },
      { kind: 'property', key: 'n', value: { kind: 'aggregate', fn: 'count', args: [] } },
      { kind: 'property', key: 's', value: { kind: 'get', object: { kind: 'var', name: 'w' }, key: 'start' } },
    ]);
  });

  it('over without a name binds "window" (JSONJet default); by may follow over', () => {
    const [sum] = ops('s | summarize { ...window, n: count() } over tumbling_window(2) by product');
    expect(sum).toMatchObject({ windowVar: 'window', by: [{ name: 'product' }], aggregates: { entries: [{ kind: 'spread', value: { kind: 'var', name: 'window' } }, {}] } });
    expect(errorOf('s | summarize {n: count()} over w = tumbling_window(0)')[0]).toBe('the window size must be greater than zero');
    expect(errorOf('s | summarize {n: count()} over w = tumbling_window(x)')[0]).toMatch(/must be a number or a duration/);
    expect(errorOf('s | summarize {n: count()} over w = weekly(2)')[0]).toMatch(/expected a window/);
    expect(errorOf('s | summarize {n: count()} over w = count_window(5m)')[0]).toMatch(/counts records/);
  });

  it.each([
    ['emit every 3', { kind: 'every', interval: 3 }],
    ['emit every 1000 using timestamp', { kind: 'every', interval: 1000, using: f('timestamp') }],
    ['emit every 1m', { kind: 'every', interval: 60_000, using: 'arrival' }],
    ['emit when temperature > 25', { kind: 'when', condition: { kind: 'binary', op: '>', left: f('temperature'), right: lit(25) } }],
    ['emit on change location', { kind: 'change', value: f('location') }],
    ['emit on group change', { kind: 'groupChange' }],
    ['EMIT ON UPDATE', { kind: 'update' }],
  ])('summarize … %s', (clause, emit) => {
    expect(ops(`s | summarize { n: count() } by location ${clause} | insert_into(out)`)).toEqual([
      expect.objectContaining({ op: 'summarize', emit }),
      { op: 'insert_into', stream: 'out' },
    ]);
  });

  it('a window and an emit clause exclude each other; emit needs a mode', () => {
    expect(errorOf('s | summarize {n: count()} over w = tumbling_window(2) emit every 2')).toEqual([
      'a summarize over a window emits when the window closes: remove the emit clause or the window', 1, 56,
    ]);
    expect(errorOf('s | summarize {n: count()} emit sometimes')[0]).toMatch(/expected every, when or on/);
  });

  it('insert_into(NAME); write_to_file and assert_or_save_expected are refused at parse time', () => {
    expect(ops('s | insert_into(out)')).toEqual([{ op: 'insert_into', stream: 'out' }]);
    expect(errorOf('s | where x > 1\n  | write_to_file("/tmp/x.ndjson")')).toEqual([
      'write_to_file is not supported: no operator writes server files (use insert_into and subscribe)', 2, 5,
    ]);
    expect(errorOf('s | assert_or_save_expected("x")')[0]).toMatch(/test-runner/);
  });
});

describe('JET expressions', () => {
  it('precedence: || < && < not < comparison < + - < * / % < unary < postfix', () => {
    expect(e('a || b && !c == d + e * -f.g[0]')).toEqual({
      kind: 'binary', op: '||', left: f('a'),
      right: {
        kind: 'binary', op: '&&', left: f('b'),
        right: {
          kind: 'binary', op: '==', left: { kind: 'unary', op: 'not', operand: f('c') },
          right: {
            kind: 'binary', op: '+', left: f('d'),
            right: { kind: 'binary', op: '*', left: f('e'), right: { kind: 'unary', op: 'neg', operand: { kind: 'index', object: f('f', 'g'), index: lit(0) } } },
          },
        },
      },
    });
  });

  it('and / or / not words, case-insensitive; not binds looser than comparison', () => {
    expect(e('a AND not b > 1 Or c')).toEqual({
      kind: 'binary', op: '||',
      left: { kind: 'binary', op: '&&', left: f('a'), right: { kind: 'unary', op: 'not', operand: { kind: 'binary', op: '>', left: f('b'), right: lit(1) } } },
      right: f('c'),
    });
    expect(e('not == 1')).toMatchObject({ kind: 'binary', left: f('not') }); // a field named "not"
  });

  it('ternary (right-associative), parentheses, iff', () => {
    expect(e('a ? 1 : b ? 2 : 3')).toEqual({ kind: 'conditional', test: f('a'), then: lit(1), else: { kind: 'conditional', test: f('b'), then: lit(2), else: lit(3) } });
    expect(e('(a + b) * c')).toMatchObject({ op: '*', left: { op: '+' } });
    expect(e('IFF(x > 1, "y", "n")')).toMatchObject({ kind: 'call', name: 'iff' });
  });

  it('literals: numbers, negative numbers, durations (ms), strings, true/false/null, objects, arrays', () => {
    expect(e('-3')).toEqual(lit(-3));
    expect(e('5m')).toEqual(lit(300_000));
    expect(e("'s'")).toEqual(lit('s'));
    expect([e('TRUE'), e('false'), e('Null')]).toEqual([lit(true), lit(false), lit(null)]);
    expect(e('[1, {nested: add(d, 5)}]')).toEqual({
      kind: 'array',
      items: [lit(1), { kind: 'object', entries: [{ kind: 'property', key: 'nested', value: { kind: 'call', name: 'add', args: [f('d'), lit(5)] } }] }],
    });
    expect(e('{}')).toEqual({ kind: 'object', entries: [] });
  });

  it('member access on any value, index by expression', () => {
    expect(e('scores[i].name')).toEqual({ kind: 'get', object: { kind: 'index', object: f('scores'), index: f('i') }, key: 'name' });
    expect(e('(a).b')).toEqual(f('a', 'b'));
  });

  it('lookups: names given by the caller read the lookup', () => {
    const x = parseJetExpression('limits.max + x', { lookups: new Set(['limits']) });
    expect(x).toEqual({ kind: 'binary', op: '+', left: { kind: 'get', object: { kind: 'lookup', name: 'limits' }, key: 'max' }, right: f('x') });
  });

  it('function calls are checked: unknown names and arity', () => {
    expect(() => e('nosuch(1)')).toThrow(/unknown function nosuch\(\)/);
    expect(() => e('abs(1, 2)')).toThrow(/abs\(\) takes 1 argument/);
    expect(() => e('a b')).toThrow(/unexpected 'b' after the expression/);
  });
});

// --------------------------------------------------------------------------------------------- end to end

import { instantiate } from '../../../core/query/index.js';

/** Runs a JSONJet test program: statements in order, flows fed by inserts, flush on `flush`. */
function runProgram(text: string): Record<string, JsonValue[]> {
  const flows: Array<{ name: string; plan: PipelinePlan; rt: ReturnType<typeof instantiate> }> = [];
  const out: Record<string, JsonValue[]> = {};
  let offset = 0;
  for (const s of parseJet(text)) {
    if (s.kind === 'create_flow') {
      flows.push({ name: s.name, plan: s.pipeline, rt: instantiate(s.pipeline) });
      out[s.name] = [];
    } else if (s.kind === 'insert') {
      for (const r of s.records) {
        for (const fl of flows.filter((x) => x.plan.source === s.stream)) {
          out[fl.name].push(...fl.rt.push(r, { offset, time: offset }).map((o) => o.record));
        }
        offset++;
      }
    } else if (s.kind === 'flush') {
      for (const fl of flows.filter((x) => x.plan.source === s.stream)) out[fl.name].push(...fl.rt.flush().map((o) => o.record));
    }
  }
  return out;
}

describe('JSONJet test programs give JSONJet expected outputs (packages/core/tests)', () => {
  it('summarize-demo.jet', () => {
    const out = runProgram(`
      create or replace stream sales;
      create flow product_summary as
      sales
        | summarize { ...window, total_amount: sum(amount), count: count() } by product over window = tumbling_window(2);
      insert into sales { date: "2024-01-15", product: "laptop", amount: 1200, region: "north" };
      insert into sales { date: "2024-01-15", product: "mouse", amount: 25, region: "north" };
      insert into sales { date: "2024-01-15", product: "laptop", amount: 1100, region: "south" };
      insert into sales { date: "2024-01-15", product: "keyboard", amount: 75, region: "south" };
      insert into sales { date: "2024-01-16", product: "laptop", amount: 1300, region: "north" };
      insert into sales { date: "2024-01-16", product: "mouse", amount: 30, region: "east" };
      insert into sales { date: "2024-01-16", product: "laptop", amount: 1150, region: "west" };
      flush sales;`);
    const w = (id: number) => ({ _id: id, windowId: id, start: id * 2, end: id * 2 + 2, type: 'tumbling', mode: 'count', size: 2 });
    // summarize-demo.ndjson, plus the group key (product) that we add
    expect(out.product_summary).toEqual([
      { ...w(0), total_amount: 1200, count: 1, product: 'laptop' }, { ...w(0), total_amount: 25, count: 1, product: 'mouse' },
      { ...w(1), total_amount: 1100, count: 1, product: 'laptop' }, { ...w(1), total_amount: 75, count: 1, product: 'keyboard' },
      { ...w(2), total_amount: 1300, count: 1, product: 'laptop' }, { ...w(2), total_amount: 30, count: 1, product: 'mouse' },
      { ...w(3), total_amount: 1150, count: 1, product: 'laptop' },
    ]);
  });

  it('exclusion-test.jet and spread-comparison-test.jet', () => {
    const out = runProgram(`
      create flow a as test_data | select { ...*, -field2, -field3 };
      create flow b as test_data | summarize { ...window, -field2, -field3, count: count() } over window = tumbling_window(2);
      create flow c as test_data | select { ...*, ...window };
      insert into test_data { field1: "value1", field2: "value2", field3: "value3", field4: "value4" };
      insert into test_data { field1: "value5", field2: "value6", field3: "value7", field4: "value8" };
      flush test_data;`);
    expect(out.a).toEqual([{ field1: 'value1', field4: 'value4' }, { field1: 'value5', field4: 'value8' }]);
    expect(out.b).toEqual([{ _id: 0, count: 2, end: 2, mode: 'count', size: 2, start: 0, type: 'tumbling', windowId: 0 }]);
    expect(out.c).toEqual([{ field1: 'value1', field2: 'value2', field3: 'value3', field4: 'value4' }, { field1: 'value5', field2: 'value6', field3: 'value7', field4: 'value8' }]);
  });

  it('scan-simple-demo.jet', () => {
    const out = runProgram(`
      create flow cumulative_sum as
      numbers | scan(step sum: true => sum.total = (sum.total || 0) + x, emit({ input: x, cumulative: sum.total, step: "sum" }););
      insert into numbers { x: 1 }; insert into numbers { x: 2 }; insert into numbers { x: 3 };`);
    expect(out.cumulative_sum).toEqual([
      { input: 1, cumulative: 1, step: 'sum' }, { input: 2, cumulative: 3, step: 'sum' }, { input: 3, cumulative: 6, step: 'sum' },
    ]);
  });

  it('array-indexing, nested objects with functions, exp-demo, simple-filter', () => {
    const out = runProgram(`
      create flow idx as users | select { id: id, name: name, scoreAtIndex: scores[scoreIndex], hobbyAtIndex: hobbies[hobbyIndex], len: scores ? scores.length : 'no length' };
      create flow nested as test_data | select { arr: [1, 2, { nested: add(dummy, 5) }], obj: { x: neg(dummy) }, deep: { a: { b: [pi(), { c: add(dummy, 10) }] } } };
      create flow ex as numbers | select { x: x, exp_x: exp(x) };
      create flow filt as products | where price > 100;
      insert into users { "id": 4, "name": "Dave", "scores": [75, 82, 89], "scoreIndex": 1, "hobbies": ["swimming", "running"], "hobbyIndex": 0 };
      insert into test_data { dummy: 3 };
      insert into numbers { x: 1 };
      insert into products [{ id: 1, name: "Laptop", price: 999.99 }, { id: 2, name: "Mouse", price: 25 }];`);
    expect(out.idx).toEqual([{ hobbyAtIndex: 'swimming', id: 4, name: 'Dave', scoreAtIndex: 82, len: 3 }]);
    expect(out.nested).toEqual([{ arr: [1, 2, { nested: 8 }], deep: { a: { b: [Math.PI, { c: 13 }] } }, obj: { x: -3 } }]);
    expect(out.ex).toEqual([{ exp_x: Math.E, x: 1 }]);
    expect(out.filt).toEqual([{ id: 1, name: 'Laptop', price: 999.99 }]);
  });
});
