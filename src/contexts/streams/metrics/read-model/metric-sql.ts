import {
  aggregateKey,
  GLOBAL_METRIC_AGGREGATIONS,
  type MetricAggregation,
  type MetricCondition,
  type MetricField,
  type MetricGroupState,
  type MetricGroupStatesRequest,
  type MetricRecord,
  type MetricSelection,
} from '../domain/metric-query.js';
import { MetricQueryError, type MetricValue } from '../domain/metric.js';

/**
 * Compiles a select over one metric's stored points into ONE parameterized PostgreSQL statement over
 * `metric_points` (and `metric_heads`, so the answer and the stream position it is complete up to come
 * from one snapshot). Equalities on dimensions and tags are jsonb containment (`@>`, served by their GIN
 * indexes); time bounds use the (metric, generation, ts) index.
 */

/** NSDb's texts for the rules that need the metric's schema (io.radicalbit.nsdb.statement.StatementParserErrors). */
export const SCHEMA_RULES = {
  SIMPLE_AGGREGATION_NOT_ON_TAG: 'cannot execute a groupBy query grouping by a field that is not a tag',
  AGGREGATION_NOT_ALLOWED:
    'Count And Count Distinct Aggregation can be applied to the value and to a tag. Other aggregations can be applied only on the value',
  notExistingFields: (fields: readonly string[]) => `field [${fields.join(',')}] does not exist`,
} as const;

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

type Classes = ReadonlyMap<string, MetricField['fieldClassType']>;

/** Parameters of one statement: each distinct value once. */
export class SqlParams {
  readonly values: unknown[] = [];
  private readonly index = new Map<string, number>();

  add(value: unknown, cast: string): string {
    const key = `${cast}:${typeof value}:${String(value)}`;
    let n = this.index.get(key);
    if (n === undefined) {
      this.values.push(value);
      n = this.values.length;
      this.index.set(key, n);
    }
    return `$${n}::${cast}`;
  }
}

function requireName(name: string): void {
  if (!NAME.test(name)) throw new MetricQueryError(`invalid field name '${name}'`);
}

/** The jsonb of a dimension or tag (whichever holds it when the schema does not tell). */
function jsonOf(field: string, params: SqlParams, classes?: Classes): string {
  requireName(field);
  const key = params.add(field, 'text');
  const cls = classes?.get(field);
  if (cls === 'TAG') return `(tags -> ${key})`;
  if (cls === 'DIMENSION') return `(dimensions -> ${key})`;
  return `COALESCE(dimensions -> ${key}, tags -> ${key})`;
}

const numberOf = (json: string) => `(CASE WHEN jsonb_typeof(${json}) = 'number' THEN (${json} #>> '{}')::float8 END)`;
const textOf = (json: string) => `(CASE WHEN jsonb_typeof(${json}) = 'string' THEN ${json} #>> '{}' END)`;

function numericLiteral(value: MetricValue): number | undefined {
  if (typeof value === 'number') return value;
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/** A two-valued SQL condition (a missing field is false, never null), so NOT means "does not match". */
export function compileCondition(condition: MetricCondition, params: SqlParams, classes?: Classes): string {
  switch (condition.kind) {
    case 'and':
    case 'or':
      return `(${compileCondition(condition.left, params, classes)} ${condition.kind.toUpperCase()} ${compileCondition(condition.right, params, classes)})`;
    case 'not':
      return `(NOT ${compileCondition(condition.condition, params, classes)})`;
    case 'between':
      return `(${compileCondition({ kind: 'compare', field: condition.field, operator: '>=', value: condition.low }, params, classes)} AND ${compileCondition(
        { kind: 'compare', field: condition.field, operator: '<=', value: condition.high },
        params,
        classes,
      )})`;
    case 'compare': {
      const { field, operator, value } = condition;
      if (field === 'timestamp' || field === 'value') {
        const n = numericLiteral(value);
        if (n === undefined) return 'FALSE';
        const cast = field === 'timestamp' && Number.isSafeInteger(n) ? 'bigint' : 'float8';
        return `(${field === 'timestamp' ? 'ts' : 'value'} ${operator} ${params.add(n, cast)})`;
      }
      requireName(field);
      if (operator === '=') {
        const probe = params.add(JSON.stringify({ [field]: value }), 'jsonb');
        const cls = classes?.get(field);
        if (cls === 'TAG') return `(tags @> ${probe})`;
        if (cls === 'DIMENSION') return `(dimensions @> ${probe})`;
        return `(dimensions @> ${probe} OR tags @> ${probe})`;
      }
      const json = jsonOf(field, params, classes);
      return typeof value === 'number'
        ? `COALESCE(${numberOf(json)} ${operator} ${params.add(value, 'float8')}, FALSE)`
        : `COALESCE(${textOf(json)} ${operator} ${params.add(value, 'text')}, FALSE)`;
    }
    case 'like': {
      if (condition.field === 'timestamp' || condition.field === 'value') return 'FALSE';
      const pattern = condition.pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll('$', '%');
      return `COALESCE(${textOf(jsonOf(condition.field, params, classes))} LIKE ${params.add(pattern, 'text')} ESCAPE '\\', FALSE)`;
    }
    case 'is_null':
      if (condition.field === 'timestamp' || condition.field === 'value') return 'FALSE';
      return `(${jsonOf(condition.field, params, classes)} IS NULL)`;
  }
}

/** How the rows of a compiled select turn into records. */
type Shape =
  | { kind: 'points'; dimensions?: ReadonlySet<string>; tags?: ReadonlySet<string> }
  | { kind: 'distinct'; field: string; where: 'timestamp' | 'value' | 'dimensions' | 'tags' }
  | { kind: 'global'; keys: { alias: string; key: string; aggregation: MetricAggregation }[]; limit?: number }
  | { kind: 'tag_group'; tag: string }
  | { kind: 'interval'; intervalMs: number; key: string };

export type CompiledMetricSelect = {
  sql: string;
  params: unknown[];
  shape: Shape;
  rowLimit: number;
  maxRecords: number;
  limited: boolean;
  /** Interval counts ordered by value: every bucket of the span is needed, so a span over maxRecords is refused. */
  checkSpan?: boolean;
};

export type MetricTarget = { metric: string; generation: number };

/** Checks NSDb's schema rules, then compiles. `maxRecords`: a larger answer is refused (see `decodeMetricRows`). */
export function compileMetricSelect(target: MetricTarget, selection: MetricSelection, schema: readonly MetricField[], maxRecords: number): CompiledMetricSelect {
  const classes: Classes = new Map(schema.map((f) => [f.name, f.fieldClassType]));
  const fields = selection.fields === '*' ? [] : selection.fields;
  const isTag = (name: string) => classes.get(name) === 'TAG';

  // NSDb's schema rules (StatementParser / FieldsParser).
  if (selection.groupBy?.kind === 'tag' && !isTag(selection.groupBy.field)) throw new MetricQueryError(SCHEMA_RULES.SIMPLE_AGGREGATION_NOT_ON_TAG);
  for (const f of fields) {
    if (f.aggregation === undefined || f.name === 'value' || f.name === '*') continue;
    if ((f.aggregation === 'count' || f.aggregation === 'count_distinct') && isTag(f.name)) continue;
    throw new MetricQueryError(SCHEMA_RULES.AGGREGATION_NOT_ALLOWED);
  }
  const missing = fields.map((f) => f.name).filter((n) => n !== '*' && n !== 'timestamp' && n !== 'value' && !classes.has(n));
  if (missing.length) throw new MetricQueryError(SCHEMA_RULES.notExistingFields(missing));

  const params = new SqlParams();
  const { conditions, metricParam, generationParam } = pointConditions(target, selection, params, classes);

  const limited = selection.limit !== undefined && selection.limit <= maxRecords;
  const rowLimit = limited ? selection.limit! : maxRecords + 1;
  const limitParam = params.add(rowLimit, 'bigint');
  const desc = selection.orderBy?.descending ? ' DESC' : '';
  const orderField = selection.orderBy?.field;

  let select: string;
  let groupBy = '';
  let order: string;
  let shape: Shape;
  let filled: { inner: string; checkSpan: boolean } | undefined;
  const aggregated = fields.filter((f) => f.aggregation !== undefined);

  const aggregateSql = (f: { name: string; aggregation?: MetricAggregation }): string => {
    switch (f.aggregation!) {
      case 'count':
        return f.name === '*' || f.name === 'value' ? 'count(*)' : `count(${jsonOf(f.name, params, classes)})`;
      case 'count_distinct':
        return f.name === '*' || f.name === 'value' ? 'count(DISTINCT value)' : `count(DISTINCT ${jsonOf(f.name, params, classes)})`;
      case 'sum':
        return 'sum(value)';
      case 'min':
        return 'min(value)';
      case 'max':
        return 'max(value)';
      case 'avg':
        return 'avg(value)';
      case 'first':
        return '(array_agg(value ORDER BY ts, stream_position))[1]';
      case 'last':
        return '(array_agg(value ORDER BY ts DESC, stream_position DESC))[1]';
    }
  };

  if (selection.groupBy?.kind === 'tag') {
    const g = jsonOf(selection.groupBy.field, params, classes);
    const v = aggregateSql(aggregated[0]);
    conditions.push(`${g} IS NOT NULL`);
    select = `${g} AS g, ${v} AS v`;
    groupBy = ` GROUP BY ${g}`;
    order = orderField === 'value' ? `${v}${desc}, ${g}` : `${g}${desc}`;
    shape = { kind: 'tag_group', tag: selection.groupBy.field };
  } else if (selection.groupBy?.kind === 'interval') {
    const n = selection.groupBy.intervalMs;
    if (!Number.isSafeInteger(n) || n <= 0) throw new MetricQueryError('the interval must be a positive number of milliseconds');
    const bucket = `(floor(ts / ${params.add(n, 'float8')})::bigint * ${params.add(n, 'bigint')})`;
    const v = aggregateSql(aggregated[0]);
    select = `${bucket} AS b, ${v} AS v`;
    groupBy = ` GROUP BY ${bucket}`;
    order = orderField === 'value' ? `${v}${desc}, ${bucket}` : `${bucket}${desc}`;
    shape = { kind: 'interval', intervalMs: n, key: aggregateKey(aggregated[0].aggregation!) };
    if (aggregated[0].aggregation === 'count' || aggregated[0].aggregation === 'count_distinct') {
      // As NSDb, a count answers every bucket of the span, the empty ones with 0 (other aggregations have no
      // value over nothing: their empty buckets are left out). The series is capped at maxRecords + 1 buckets
      // from the end the answer is ordered from.
      const step = params.add(n, 'bigint');
      const cap = params.add(maxRecords, 'bigint');
      const series = desc && orderField !== 'value'
        ? `generate_series(s.hi, GREATEST(s.lo, s.hi - ${step} * ${cap}), -${step})`
        : `generate_series(s.lo, LEAST(s.hi, s.lo + ${step} * ${cap}), ${step})`;
      const o = orderField === 'value' ? `COALESCE(a.v, 0)${desc}, g.b` : `g.b${desc}`;
      filled = {
        checkSpan: orderField === 'value',
        inner:
          `WITH a AS (SELECT ${bucket} AS b, ${v} AS v FROM metric_points WHERE ${conditions.join(' AND ')} GROUP BY ${bucket}) ` +
          `SELECT g.b AS b, COALESCE(a.v, 0) AS v, (s.hi - s.lo) / ${step} + 1 AS span, row_number() OVER (ORDER BY ${o}) AS rn ` +
          `FROM (SELECT min(b) AS lo, max(b) AS hi FROM a) s CROSS JOIN LATERAL ${series} AS g(b) LEFT JOIN a ON a.b = g.b ORDER BY ${o} LIMIT ${limitParam}`,
      };
    }
  } else if (aggregated.length > 0) {
    if (aggregated.some((f) => !GLOBAL_METRIC_AGGREGATIONS.has(f.aggregation!))) {
      throw new MetricQueryError('cannot execute a query with a non global aggregation without a groupBy field');
    }
    const keys = aggregated.map((f, i) => ({ alias: `a${i}`, key: aggregateKey(f.aggregation!), aggregation: f.aggregation! }));
    select = aggregated.map((f, i) => `${aggregateSql(f)} AS a${i}`).join(', ');
    order = '1';
    shape = { kind: 'global', keys, limit: selection.limit };
  } else if (selection.distinct) {
    const field = fields[0].name;
    const expr = field === 'timestamp' ? 'ts' : field === 'value' ? 'value' : jsonOf(field, params, classes);
    if (field !== 'timestamp' && field !== 'value') conditions.push(`${expr} IS NOT NULL`);
    select = `${expr} AS g`;
    groupBy = ` GROUP BY ${expr}`;
    order = `${expr}${orderField === field ? desc : ''}`;
    const where = field === 'timestamp' || field === 'value' ? field : isTag(field) ? 'tags' : 'dimensions';
    shape = { kind: 'distinct', field, where };
  } else {
    select = 'ts, value, dimensions, tags';
    if (orderField === undefined) order = 'ts, stream_position';
    else if (orderField === 'timestamp') order = `ts${desc}, stream_position${desc}`;
    else if (orderField === 'value') order = `value${desc}, ts, stream_position`;
    else order = `${jsonOf(orderField, params, classes)}${desc} NULLS LAST, ts, stream_position`;
    const named = fields.map((f) => f.name).filter((n) => n !== 'timestamp' && n !== 'value' && n !== '*');
    shape =
      fields.length === 0 || fields.some((f) => f.name === '*')
        ? { kind: 'points' }
        : { kind: 'points', dimensions: new Set(named.filter((n) => !isTag(n))), tags: new Set(named.filter(isTag)) };
  }

  const inner = filled ? filled.inner : `SELECT ${select}, row_number() OVER (ORDER BY ${order}) AS rn FROM metric_points WHERE ${conditions.join(' AND ')}${groupBy} ORDER BY ${order} LIMIT ${limitParam}`;
  const sql =
    `SELECT h.position AS head, q.* FROM ` +
    `(SELECT COALESCE(max(position), 0) AS position FROM metric_heads WHERE metric = ${metricParam} AND generation = ${generationParam}) h ` +
    `LEFT JOIN LATERAL (${inner}) q ON TRUE ORDER BY q.rn`;
  return { sql, params: params.values, shape, rowLimit, maxRecords, limited, checkSpan: filled?.checkSpan };
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** The records of the rows the compiled select returned, and the stream position they are complete up to. */
export function decodeMetricRows(compiled: CompiledMetricSelect, rows: readonly Record<string, unknown>[]): { records: MetricRecord[]; position: number } {
  const position = rows.length ? num(rows[0].head) : 0;
  const present = rows.filter((r) => r.rn !== null && r.rn !== undefined);
  const spanTooLarge = compiled.checkSpan === true && present.length > 0 && num(present[0].span) > compiled.maxRecords;
  if ((!compiled.limited && present.length > compiled.maxRecords) || spanTooLarge) {
    throw new MetricQueryError(
      `the answer would hold more than ${compiled.maxRecords} records (the most one answer may hold): add a LIMIT or narrow the WHERE`,
      'METRIC_ANSWER_TOO_LARGE',
    );
  }
  const { shape } = compiled;
  const records = present.map((row): MetricRecord => {
    switch (shape.kind) {
      case 'points': {
        const pick = (obj: Record<string, MetricValue>, keep?: ReadonlySet<string>) => (keep ? Object.fromEntries(Object.entries(obj).filter(([k]) => keep.has(k))) : obj);
        return {
          timestamp: num(row.ts),
          value: num(row.value),
          dimensions: pick((row.dimensions ?? {}) as Record<string, MetricValue>, shape.dimensions),
          tags: pick((row.tags ?? {}) as Record<string, MetricValue>, shape.tags),
        };
      }
      case 'distinct': {
        const v = row.g as MetricValue;
        if (shape.where === 'timestamp') return { timestamp: num(v), value: 0, dimensions: {}, tags: {} };
        if (shape.where === 'value') return { timestamp: 0, value: num(v), dimensions: {}, tags: {} };
        return { timestamp: 0, value: 0, dimensions: shape.where === 'dimensions' ? { [shape.field]: v } : {}, tags: shape.where === 'tags' ? { [shape.field]: v } : {} };
      }
      case 'global': {
        const tags: Record<string, MetricValue> = {};
        for (const { alias, key, aggregation } of shape.keys) {
          const raw = row[alias];
          if (raw === null || raw === undefined) {
            if (aggregation === 'min' || aggregation === 'max') continue; // NSDb leaves them out over no points
            tags[key] = 0;
            continue;
          }
          let v = num(raw);
          if (aggregation === 'count' && shape.limit !== undefined) v = Math.min(v, shape.limit); // NSDb counts at most LIMIT
          tags[key] = v;
        }
        return { timestamp: 0, value: 0, dimensions: {}, tags };
      }
      case 'tag_group':
        return { timestamp: 0, value: num(row.v), dimensions: {}, tags: { [shape.tag]: row.g as MetricValue } };
      case 'interval': {
        const lower = num(row.b);
        const upper = lower + shape.intervalMs;
        const value = num(row.v);
        return { timestamp: upper, value, dimensions: { lowerBound: lower, upperBound: upper }, tags: { [shape.key]: value } };
      }
    }
  });
  return { records, position };
}

/** The points of one metric generation that a WHERE keeps, up to a stream position when one is given. */
function pointConditions(target: MetricTarget, filter: { where?: MetricCondition; upToPosition?: number }, params: SqlParams, classes: Classes) {
  const metricParam = params.add(target.metric, 'text');
  const generationParam = params.add(target.generation, 'int');
  const conditions = [`metric = ${metricParam}`, `generation = ${generationParam}`];
  if (filter.where) conditions.push(compileCondition(filter.where, params, classes));
  if (filter.upToPosition !== undefined) conditions.push(`stream_position <= ${params.add(filter.upToPosition, 'bigint')}`);
  return { conditions, metricParam, generationParam };
}

export type CompiledGroupStates = { sql: string; params: unknown[]; distinctFields: readonly string[]; global: boolean };

/** One statement: every group's state and the stream position they are complete up to (one snapshot). */
export function compileGroupStates(target: MetricTarget, request: MetricGroupStatesRequest, schema: readonly MetricField[]): CompiledGroupStates {
  const classes: Classes = new Map(schema.map((f) => [f.name, f.fieldClassType]));
  const params = new SqlParams();
  const { conditions, metricParam, generationParam } = pointConditions(target, request, params, classes);
  let g = 'NULL::jsonb';
  let groupBy = '';
  if (request.groupBy?.kind === 'tag') {
    g = jsonOf(request.groupBy.field, params, classes);
    conditions.push(`${g} IS NOT NULL`);
    groupBy = ` GROUP BY ${g}`;
  } else if (request.groupBy?.kind === 'interval') {
    const n = request.groupBy.intervalMs;
    if (!Number.isSafeInteger(n) || n <= 0) throw new MetricQueryError('the interval must be a positive number of milliseconds');
    g = `to_jsonb(floor(ts / ${params.add(n, 'float8')})::bigint * ${params.add(n, 'bigint')})`;
    groupBy = ` GROUP BY 1`;
  }
  const distinct = request.distinctFields.map((field, i) => {
    const json = field === '*' || field === 'value' ? 'to_jsonb(value)' : field === 'timestamp' ? 'to_jsonb(ts)' : jsonOf(field, params, classes);
    return `, COALESCE(jsonb_agg(DISTINCT ${json}) FILTER (WHERE ${json} IS NOT NULL), '[]'::jsonb) AS d${i}`;
  });
  const limitParam = params.add(request.maxGroups + 1, 'bigint');
  const inner =
    `SELECT ${g} AS g, count(*) AS n, COALESCE(sum(value), 0) AS s, min(value) AS mn, max(value) AS mx, ` +
    `(array_agg(ts ORDER BY ts, stream_position))[1] AS fts, (array_agg(value ORDER BY ts, stream_position))[1] AS fv, ` +
    `(array_agg(ts ORDER BY ts DESC, stream_position DESC))[1] AS lts, (array_agg(value ORDER BY ts DESC, stream_position DESC))[1] AS lv` +
    `${distinct.join('')} FROM metric_points WHERE ${conditions.join(' AND ')}${groupBy} LIMIT ${limitParam}`;
  const sql =
    `SELECT h.position AS head, q.* FROM ` +
    `(SELECT COALESCE(max(position), 0) AS position FROM metric_heads WHERE metric = ${metricParam} AND generation = ${generationParam}) h ` +
    `LEFT JOIN LATERAL (${inner}) q ON TRUE`;
  return { sql, params: params.values, distinctFields: request.distinctFields, global: request.groupBy === undefined };
}

/** The group states of the rows a compiled statement returned. */
export function decodeGroupStates(compiled: CompiledGroupStates, rows: readonly Record<string, unknown>[]): { groups: MetricGroupState[]; position: number } {
  const position = rows.length ? num(rows[0].head) : 0;
  const opt = (v: unknown) => (v === null || v === undefined ? undefined : num(v));
  const groups = rows
    .filter((r) => r.n !== null && r.n !== undefined)
    .map((row): MetricGroupState => {
      const state: MetricGroupState = {
        count: num(row.n),
        sum: num(row.s),
        min: opt(row.mn),
        max: opt(row.mx),
        firstTs: opt(row.fts),
        firstValue: opt(row.fv),
        lastTs: opt(row.lts),
        lastValue: opt(row.lv),
        distinct: Object.fromEntries(compiled.distinctFields.map((f, i) => [f, (row[`d${i}`] ?? []) as MetricValue[]])),
      };
      if (!compiled.global) state.group = row.g as MetricValue;
      return state;
    });
  return { groups, position };
}
