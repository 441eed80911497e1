import { QueryLimitError, QueryPlanError } from './errors.js';
import type { AggregateFn, JsonValue } from './plan.js';
import { canonicalKey, jsonOrNull } from './values.js';

/**
 * Incremental aggregates. Each keeps a small state that `save` turns into JSON and `load` reads back, so a
 * group's aggregates survive a checkpoint exactly (the Kahan compensation of a sum included).
 */
export interface Aggregator {
  /** How many arguments the aggregate takes. */
  arity: [number, number];
  init(): unknown;
  /** Returns the new state (it may be the same object, updated). */
  add(state: unknown, value: unknown, limits: { maxDistinct: number }): unknown;
  result(state: unknown): unknown;
  save(state: unknown): JsonValue;
  load(json: JsonValue): unknown;
}

/** JSONJet's sum (aggregations/functions/sum.js) coerces numeric strings and booleans and skips null/NaN. */
export function coerce(v: unknown): number | null {
  if (typeof v === 'number') return Number.isNaN(v) ? null : v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return null;
    const n = Number(t);
    return Number.isNaN(n) ? null : n;
  }
  return null;
}

type KahanState = [sum: number, compensation: number, n: number];
function kahanAdd(s: KahanState, v: unknown): KahanState {
  const x = coerce(v);
  if (x === null) return s;
  const y = x - s[1];
  const t = s[0] + y;
  s[1] = t - s[0] - y;
  s[0] = t;
  s[2]++;
  return s;
}

const identity = (x: unknown) => x;
const asJson = (x: unknown) => x as JsonValue;

function better(a: unknown, b: unknown, wantMin: boolean): boolean {
  // Numbers and strings compare among their own type; a number beats a string (a stable, documented order).
  if (typeof a === typeof b) return wantMin ? (a as number) < (b as number) : (a as number) > (b as number);
  return typeof a === 'number';
}

function extreme(wantMin: boolean): Aggregator {
  return {
    arity: [1, 1],
    init: () => null,
    add: (s, v) => {
      if (v === null || v === undefined || (typeof v !== 'number' && typeof v !== 'string')) return s;
      if (typeof v === 'number' && Number.isNaN(v)) return s;
      return s === null || better(v, s, wantMin) ? v : s;
    },
    result: identity,
    save: asJson,
    load: identity,
  };
}

export const AGGREGATORS: Record<AggregateFn, Aggregator> = {
  count: {
    arity: [0, 1],
    init: () => 0,
    // count() counts records; count(x) counts records where x is not null (the caller passes `true` for count()).
    add: (s, v) => (v === null || v === undefined ? s : (s as number) + 1),
    result: identity,
    save: asJson,
    load: identity,
  },
  count_if: {
    arity: [1, 1],
    init: () => 0,
    add: (s, v) => (v ? (s as number) + 1 : s),
    result: identity,
    save: asJson,
    load: identity,
  },
  sum: {
    arity: [1, 1],
    init: (): KahanState => [0, 0, 0],
    add: (s, v) => kahanAdd(s as KahanState, v),
    result: (s) => (s as KahanState)[0],
    save: (s) => [...(s as KahanState)],
    load: (j) => [...(j as number[])] as KahanState,
  },
  avg: {
    arity: [1, 1],
    init: (): KahanState => [0, 0, 0],
    add: (s, v) => kahanAdd(s as KahanState, v),
    result: (s) => {
      const k = s as KahanState;
      return k[2] === 0 ? null : k[0] / k[2];
    },
    save: (s) => [...(s as KahanState)],
    load: (j) => [...(j as number[])] as KahanState,
  },
  min: extreme(true),
  max: extreme(false),
  first: {
    arity: [1, 1],
    init: () => null,
    add: (s, v) => (s === null && v !== undefined ? [v] : s),
    result: (s) => (s === null ? null : (s as unknown[])[0]),
    save: (s) => (s === null ? null : [jsonOrNull((s as unknown[])[0])]),
    load: identity,
  },
  last: {
    arity: [1, 1],
    init: () => null,
    add: (s, v) => (v !== undefined ? [v] : s),
    result: (s) => (s === null ? null : (s as unknown[])[0]),
    save: (s) => (s === null ? null : [jsonOrNull((s as unknown[])[0])]),
    load: identity,
  },
  count_distinct: {
    arity: [1, 1],
    init: () => new Set<string>(),
    add: (s, v, limits) => {
      if (v === null || v === undefined) return s;
      const set = s as Set<string>;
      const key = canonicalKey(v);
      if (!set.has(key)) {
        if (set.size >= limits.maxDistinct) {
          throw new QueryLimitError(`count_distinct holds more than ${limits.maxDistinct} values`, 'maxDistinct', limits.maxDistinct);
        }
        set.add(key);
      }
      return set;
    },
    result: (s) => (s as Set<string>).size,
    save: (s) => [...(s as Set<string>)],
    load: (j) => new Set(j as string[]),
  },
};

export function aggregatorFor(fn: AggregateFn, argCount: number): Aggregator {
  const agg = (AGGREGATORS as Record<string, Aggregator | undefined>)[fn];
  if (!agg) throw new QueryPlanError(`unknown aggregate ${fn}()`);
  if (argCount < agg.arity[0] || argCount > agg.arity[1]) {
    throw new QueryPlanError(`${fn}() takes ${agg.arity[0] === agg.arity[1] ? agg.arity[0] : `${agg.arity[0]} or ${agg.arity[1]}`} argument(s), got ${argCount}`);
  }
  return agg;
}
