import { bin, call, field, lit, obj } from './build.js';
import type { Expression, JsonObject, ScanOp, ScanStatement } from './plan.js';
import { instantiate } from './runtime.js';

const assign = (target: string, value: Expression): ScanStatement => ({ kind: 'assign', target: target.split('.'), value });
const emit = (value: Expression): ScanStatement => ({ kind: 'emit', value });

function runScan(op: ScanOp, records: JsonObject[]) {
  const p = instantiate({ source: 's', operators: [op] });
  return records.map((r, i) => p.push(r, { offset: i, time: 0 }).map((o) => o.record));
}

describe('scan', () => {
  it('keeps state across records (JSONJet scan-simple-demo.ndjson)', () => {
    // step sum: true => sum.total = (sum.total || 0) + x, emit({ input: x, cumulative: sum.total, step: "sum" })
    const op: ScanOp = {
      op: 'scan',
      steps: [{
        name: 'sum',
        condition: lit(true),
        statements: [
          assign('sum.total', bin('+', bin('||', field('sum.total'), lit(0)), field('x'))),
          emit(obj({ input: field('x'), cumulative: field('sum.total'), step: lit('sum') })),
        ],
      }],
    };
    expect(runScan(op, [1, 2, 3, 4, 5].map((x) => ({ x }))).flat()).toEqual([
      { input: 1, cumulative: 1, step: 'sum' },
      { input: 2, cumulative: 3, step: 'sum' },
      { input: 3, cumulative: 6, step: 'sum' },
      { input: 4, cumulative: 10, step: 'sum' },
      { input: 5, cumulative: 15, step: 'sum' },
    ]);
  });

  it('matches a sequence: a match moves one step per record, state is carried, matchId numbers matches', () => {
    // login → logout, emitting the session (JSONJet scan-demo.jet, session_tracker)
    const op: ScanOp = {
      op: 'scan',
      steps: [
        { name: 'start', condition: bin('==', field('type'), lit('login')), statements: [assign('user', field('u')), assign('t0', field('ts'))] },
        { name: 'act', condition: bin('==', field('type'), lit('action')), statements: [assign('actions', bin('+', call('coalesce', field('actions'), lit(0)), lit(1)))] },
        {
          name: 'end',
          condition: bin('==', field('type'), lit('logout')),
          statements: [emit(obj({ user: field('user'), id: field('matchId'), duration: bin('-', field('ts'), field('t0')), actions: field('actions') }))],
        },
      ],
    };
    const rs: JsonObject[] = [
      { type: 'login', u: 'ann', ts: 10 },
      { type: 'action', ts: 11 },
      { type: 'action', ts: 12 },
      { type: 'logout', ts: 15 },
      { type: 'logout', ts: 16 }, // the match sits at 'end' and runs it again (JSONJet keeps the last step's state)
      { type: 'login', u: 'bob', ts: 20 },
      { type: 'logout', ts: 25 }, // bob's match is at step 0 and cannot reach 'end'; ann's, still at 'end', runs again
    ];
    const out = runScan(op, rs);
    expect(out).toEqual([
      [], [], [],
      [{ user: 'ann', id: 0, duration: 5, actions: 2 }],
      [{ user: 'ann', id: 0, duration: 6, actions: 2 }],
      [],
      [{ user: 'ann', id: 0, duration: 15, actions: 2 }],
    ]);
  });

  it('a failing statement leaves the state as it was and the error names the record offset', () => {
    const op: ScanOp = {
      op: 'scan',
      steps: [{
        name: 'acc',
        condition: lit(true),
        statements: [assign('n', bin('+', call('coalesce', field('n'), lit(0)), lit(1))), emit(obj(['...', field('bad')], { n: field('n') }))],
      }],
    };
    const errors: Array<{ offset: number; operatorIndex: number }> = [];
    const p = instantiate({ source: 's', operators: [op] }, { onError: (e) => errors.push(e as never) });
    expect(p.push({}, { offset: 0, time: 0 }).map((o) => o.record)).toEqual([{ n: 1 }]);
    expect(p.push({ bad: 'str' }, { offset: 1, time: 0 })).toEqual([]);
    expect(p.push({}, { offset: 2, time: 0 }).map((o) => o.record)).toEqual([{ n: 2 }]);
    expect(errors).toEqual([expect.objectContaining({ offset: 1, operatorIndex: 0 })]);
  });

  it('nested assignment copies on write: emitted values are never changed afterwards', () => {
    const op: ScanOp = {
      op: 'scan',
      steps: [{ name: 's', condition: lit(true), statements: [assign('s.n', bin('+', bin('||', field('s.n'), lit(0)), lit(1))), emit(obj({ s: field('s') }))] }],
    };
    const out = runScan(op, [{}, {}]).flat();
    expect(out).toEqual([{ s: { n: 1 } }, { s: { n: 2 } }]);
  });
});
