import { describe, expect, it } from '@jest/globals';
import { metricRecordsOrThrow, parseMetricStreamName, requireMetricStreamName, validateMetricName, validatePoint } from './metric.js';
import { allOf } from './metric-query.js';

describe('metric names and points', () => {
  it('checks db, namespace and metric names with NSDb texts', () => {
    expect(validateMetricName({ db: 'db', namespace: 'ns', metric: 'cpu_1' })).toEqual([]);
    expect(validateMetricName({ db: 'db', namespace: 'ns', metric: 'bad-name' })).toEqual([{ field: 'metric', error: 'Field metric must contain only alphanumeric chars' }]);
    expect(validateMetricName({ db: 'd.b', namespace: 5, metric: '1x' })).toEqual([
      { field: 'db', error: 'Field db must contain only alphanumeric chars' },
      { field: 'namespace', error: 'Field namespace must be a string' },
      { field: 'metric', error: 'Field metric must start with a letter' },
    ]);
    expect(validateMetricName({})).toHaveLength(3);
    expect(parseMetricStreamName('db.ns.cpu')).toEqual({ db: 'db', namespace: 'ns', metric: 'cpu' });
    expect(parseMetricStreamName('db.ns')).toBeUndefined();
    expect(() => requireMetricStreamName('a.b.c-d')).toThrow("Invalid metric name 'a.b.c-d'");
  });

  it('completes a point (timestamp now, empty dimensions and tags) or lists every bad field', () => {
    expect(validatePoint({ value: 1 }, 42)).toEqual({ point: { timestamp: 42, value: 1, dimensions: {}, tags: {} } });
    expect(validatePoint({ timestamp: 5, value: -1.5, dimensions: { h: 'a', n: 2 }, tags: { t: 'x' } }, 42).point).toEqual({ timestamp: 5, value: -1.5, dimensions: { h: 'a', n: 2 }, tags: { t: 'x' } });
    const { errors } = validatePoint({ timestamp: 1.5, value: '3', dimensions: { ok: 1, 'bad-key': 1, deep: { x: 1 }, value: 2 }, tags: { ok: 'dup' }, extra: 1 }, 0, 'bit.');
    expect(errors!.map((e) => e.field)).toEqual(['bit.extra', 'bit.timestamp', 'bit.value', 'bit.dimensions.bad-key', 'bit.dimensions.deep', 'bit.dimensions.value', 'bit.tags.ok']);
    expect(validatePoint(null, 0).errors).toEqual([{ field: 'record', error: expect.any(String) }]);
    expect(validatePoint(JSON.parse('{"value": 1, "tags": {"__proto__": "x"}}'), 0).point!.tags).toEqual(JSON.parse('{"__proto__": "x"}'));
    expect(Object.keys(validatePoint(JSON.parse('{"value": 1, "tags": {"__proto__": "x"}}'), 0).point!.tags)).toEqual(['__proto__']);
    expect(validatePoint({ value: 1, tags: { a: 'x\u0000y' } }, 0).errors).toEqual([{ field: 'tags.a', error: 'Field a must not contain NUL characters' }]);
    expect(validatePoint({ value: Infinity }, 0).errors).toEqual([{ field: 'value', error: 'Field value must be a number' }]);
  });

  it('refuses a whole batch of records for a metric stream when one is bad', () => {
    expect(metricRecordsOrThrow('db.ns.m', [{ value: 1 }, { value: 2, tags: { a: 'b' } }], 7)).toHaveLength(2);
    expect(() => metricRecordsOrThrow('db.ns.m', [{ value: 1 }, { temperature: 3 }], 7)).toThrow(
      "Records refused by metric 'db.ns.m' (nothing was inserted): [1].temperature: Field temperature is not a field of a point (timestamp, value, dimensions, tags); [1].value: Field value is required (a number)",
    );
  });

  it('ANDs conditions to the right', () => {
    const a = { kind: 'is_null', field: 'a' } as const;
    const b = { kind: 'is_null', field: 'b' } as const;
    expect(allOf([])).toBeUndefined();
    expect(allOf([undefined, a])).toBe(a);
    expect(allOf([a, b, a])).toEqual({ kind: 'and', left: a, right: { kind: 'and', left: b, right: a } });
  });
});
