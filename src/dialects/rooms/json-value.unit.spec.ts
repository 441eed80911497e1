import { fromStorable, MAX_VALUE_DEPTH, toStorable } from './json-value.js';

describe('stored values', () => {
  it('keeps plain JSON as is, without copying', () => {
    const value = { a: [1, 'two', null, true, { b: 2.5 }] };
    const stored = toStorable(value);
    expect(stored).toEqual({ value, binary: false });
    expect(stored.value).toBe(value);
  });

  it('round-trips bytes and objects that look like markers', () => {
    const value = { bytes: new Uint8Array([1, 2, 3]), fake: { $bytes: 'AQID' }, wrapped: { $object: { x: 1 } } };
    const stored = toStorable(value);
    expect(stored.binary).toBe(true);
    const json = JSON.parse(JSON.stringify(stored.value));
    expect(fromStorable(json, true)).toEqual(value);
    expect(fromStorable(json, false)).toEqual({ ...value, bytes: [1, 2, 3] });
  });

  it('refuses what PostgreSQL cannot store, saying why', () => {
    expect(() => toStorable('a\u0000b')).toThrow(/NUL/);
    expect(() => toStorable({ k: '\ud800' })).toThrow(/surrogate/);
    expect(() => toStorable({ ['\u0000']: 1 })).toThrow(/NUL/);
    expect(() => toStorable(Number.POSITIVE_INFINITY)).toThrow(/non-finite/);
    expect(() => toStorable(10n)).toThrow(/too large|bigint/);
    expect(() => toStorable({ v: Symbol('BREAK') })).toThrow(/symbol/);
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_VALUE_DEPTH; i++) deep = [deep];
    expect(() => toStorable(deep)).toThrow(/deeper/);
  });
});
