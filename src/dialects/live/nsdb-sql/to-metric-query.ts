import type { MetricCondition, MetricSelection } from '../../../contexts/streams/metrics/index.js';
import { resolveTerm, type NsdbExpression, type NsdbSelect } from './ast.js';

/**
 * NSDb's `filters` of `/query` and `/ws-stream` messages, ANDed with the statement's WHERE:
 * `{dimension, value, operator: = > >= < <= LIKE}` or `{dimension, operator: ISNULL | ISNOTNULL}`.
 */
export type NsdbFilter =
  | { dimension: string; value: string | number; operator: '=' | '>' | '>=' | '<' | '<=' | 'LIKE' }
  | { dimension: string; operator: 'ISNULL' | 'ISNOTNULL' };

/** The parts of a query message beside its statement that narrow it: `from`/`to` bound the timestamp. */
export type NsdbQueryBounds = { from?: number; to?: number; filters?: readonly NsdbFilter[] };

const FILTER_OPERATORS = new Set(['=', '>', '>=', '<', '<=', 'LIKE', 'ISNULL', 'ISNOTNULL']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a message's `from`, `to` and `filters` as the client sent them: the bounds, or the reason they
 * are refused (NSDb answers such a body as malformed).
 */
export function checkQueryBounds(body: { from?: unknown; to?: unknown; filters?: unknown }): { bounds: NsdbQueryBounds; error?: undefined } | { error: string; bounds?: undefined } {
  const bounds: NsdbQueryBounds = {};
  for (const key of ['from', 'to'] as const) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return { error: `${key} must be an epoch in milliseconds (an integer)` };
    bounds[key] = v;
  }
  if (body.filters !== undefined && body.filters !== null) {
    if (!Array.isArray(body.filters)) return { error: 'filters must be an array of {dimension, value, operator}' };
    const filters: NsdbFilter[] = [];
    for (const [i, f] of body.filters.entries()) {
      if (f === null || typeof f !== 'object' || Array.isArray(f)) return { error: `filters[${i}] must be an object {dimension, value, operator}` };
      const { dimension, value, operator } = f as Record<string, unknown>;
      if (typeof dimension !== 'string' || !NAME.test(dimension)) return { error: `filters[${i}].dimension must be a field name` };
      const op = typeof operator === 'string' ? operator.toUpperCase() : undefined;
      if (!op || !FILTER_OPERATORS.has(op)) return { error: `filters[${i}].operator must be one of =, >, >=, <, <=, LIKE, ISNULL, ISNOTNULL` };
      if (op === 'ISNULL' || op === 'ISNOTNULL') filters.push({ dimension, operator: op });
      else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string') {
        if (op === 'LIKE' && typeof value !== 'string') return { error: `filters[${i}].value of a LIKE must be a string` };
        if (typeof value === 'string' && value.includes('\u0000')) return { error: `filters[${i}].value must not contain NUL characters` };
        filters.push({ dimension, value, operator: op as '=' });
      } else return { error: `filters[${i}].value must be a string or a number` };
    }
    bounds.filters = filters;
  }
  return { bounds };
}

/** A WHERE expression with its relative times resolved at `nowMs`. */
export function toMetricCondition(expression: NsdbExpression, nowMs: number): MetricCondition {
  switch (expression.kind) {
    case 'comparison':
      return { kind: 'compare', field: expression.field, operator: expression.operator, value: resolveTerm(expression.value, nowMs) };
    case 'range':
      return { kind: 'between', field: expression.field, low: resolveTerm(expression.low, nowMs), high: resolveTerm(expression.high, nowMs) };
    case 'like':
      return { kind: 'like', field: expression.field, pattern: expression.pattern };
    case 'null':
      return { kind: 'is_null', field: expression.field };
    case 'not':
      return { kind: 'not', condition: toMetricCondition(expression.expression, nowMs) };
    case 'and':
    case 'or':
      return { kind: expression.kind, left: toMetricCondition(expression.left, nowMs), right: toMetricCondition(expression.right, nowMs) };
  }
}

export function filterCondition(filter: NsdbFilter): MetricCondition {
  switch (filter.operator) {
    case 'ISNULL':
      return { kind: 'is_null', field: filter.dimension };
    case 'ISNOTNULL':
      return { kind: 'not', condition: { kind: 'is_null', field: filter.dimension } };
    case 'LIKE':
      return { kind: 'like', field: filter.dimension, pattern: String(filter.value) };
    default:
      return { kind: 'compare', field: filter.dimension, operator: filter.operator, value: filter.value };
  }
}

/** Every condition ANDed, to the right (undefined when none). */
function allOf(conditions: readonly (MetricCondition | undefined)[]): MetricCondition | undefined {
  const present = conditions.filter((c): c is MetricCondition => c !== undefined);
  if (present.length === 0) return undefined;
  return present.reduceRight((right, left) => ({ kind: 'and', left, right }));
}

/** The statement's WHERE, the filters and the time bounds, ANDed (undefined when none). */
export function boundedCondition(where: NsdbExpression | undefined, bounds: NsdbQueryBounds, nowMs: number): MetricCondition | undefined {
  return allOf([
    where ? toMetricCondition(where, nowMs) : undefined,
    ...(bounds.filters ?? []).map(filterCondition),
    bounds.from !== undefined ? { kind: 'compare', field: 'timestamp', operator: '>=', value: bounds.from } : undefined,
    bounds.to !== undefined ? { kind: 'compare', field: 'timestamp', operator: '<=', value: bounds.to } : undefined,
  ]);
}

/** A parsed SELECT as the streams context's MetricSelection (times resolved at `nowMs`). */
export function toMetricSelection(select: NsdbSelect, bounds: NsdbQueryBounds = {}, nowMs = Date.now()): MetricSelection {
  const selection: MetricSelection = {
    fields: select.fields === '*' ? '*' : select.fields.map((f) => (f.aggregation ? { name: f.name, aggregation: f.aggregation } : { name: f.name })),
    distinct: select.distinct,
  };
  const where = boundedCondition(select.where, bounds, nowMs);
  if (where) selection.where = where;
  if (select.groupBy) selection.groupBy = select.groupBy.kind === 'tag' ? { kind: 'tag', field: select.groupBy.field } : { kind: 'interval', intervalMs: select.groupBy.intervalMs };
  if (select.orderBy) selection.orderBy = { ...select.orderBy };
  if (select.limit !== undefined) selection.limit = select.limit;
  return selection;
}
