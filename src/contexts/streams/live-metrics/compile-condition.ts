import type { Expression } from '../../../core/query/index.js';
import type { MetricCondition } from '../metrics/domain/metric-query.js';

/**
 * A metric condition (the streams context's own terms, see metrics/domain/metric-query.ts) onto the core
 * query engine's expressions, over a record `{timestamp, value, dimensions, tags}`: `timestamp` and
 * `value` are the record's own fields, any other name its dimension of that name, else its tag.
 */
export function conditionExpression(condition: MetricCondition): Expression {
  switch (condition.kind) {
    case 'compare': {
      const op = condition.operator === '=' ? '==' : condition.operator;
      return { kind: 'binary', op, left: fieldExpression(condition.field), right: literal(condition.value) };
    }
    case 'between':
      return and(
        { kind: 'binary', op: '>=', left: fieldExpression(condition.field), right: literal(condition.low) },
        { kind: 'binary', op: '<=', left: fieldExpression(condition.field), right: literal(condition.high) },
      );
    case 'like':
      return likeExpression(fieldExpression(condition.field), condition.pattern);
    case 'is_null':
      return { kind: 'call', name: 'isnull', args: [fieldExpression(condition.field)] };
    case 'not':
      return { kind: 'unary', op: 'not', operand: conditionExpression(condition.condition) };
    case 'and':
      return and(conditionExpression(condition.left), conditionExpression(condition.right));
    case 'or':
      return { kind: 'binary', op: '||', left: conditionExpression(condition.left), right: conditionExpression(condition.right) };
  }
}

/**
 * A tag or dimension equality every matching record must satisfy (the condition itself, or one of its
 * top-level conjuncts): live queries are indexed by it.
 */
export function equalityIndexOf(condition: MetricCondition | undefined): { field: string; value: string | number } | undefined {
  if (!condition) return undefined;
  if (condition.kind === 'compare' && condition.operator === '=' && condition.field !== 'timestamp' && condition.field !== 'value') {
    return { field: condition.field, value: condition.value };
  }
  if (condition.kind === 'and') return equalityIndexOf(condition.left) ?? equalityIndexOf(condition.right);
  return undefined;
}

const literal = (value: string | number): Expression => ({ kind: 'literal', value });
const and = (left: Expression, right: Expression): Expression => ({ kind: 'binary', op: '&&', left, right });
const call = (name: string, ...args: Expression[]): Expression => ({ kind: 'call', name, args });
const sub = (left: Expression, right: Expression): Expression => ({ kind: 'binary', op: '-', left, right });

export function fieldExpression(field: string): Expression {
  if (field === 'timestamp' || field === 'value') return { kind: 'field', path: [field] };
  return call('coalesce', { kind: 'field', path: ['dimensions', field] }, { kind: 'field', path: ['tags', field] });
}

/**
 * NSDb's LIKE (`$` = any run of characters, case-sensitive) with the engine's string functions: the text
 * before the first `$` is a prefix, after the last one a suffix, each piece between them is contained in
 * what lies between (in that order for one piece; for several, each somewhere in it).
 */
function likeExpression(value: Expression, pattern: string): Expression {
  const parts = pattern.split('$');
  const isString = call('eq', call('typeof', value), literal('string'));
  if (parts.length === 1) return { kind: 'binary', op: '==', left: value, right: literal(pattern) };
  const head = parts[0];
  const tail = parts[parts.length - 1];
  const middle = parts.slice(1, -1).filter((p) => p.length > 0);
  const length = call('strlen', value);
  const minLength = head.length + tail.length + middle.reduce((n, p) => n + p.length, 0);
  let out: Expression = and(isString, { kind: 'binary', op: '>=', left: length, right: literal(minLength) });
  if (head) out = and(out, { kind: 'binary', op: '==', left: call('substring', value, literal(0), literal(head.length)), right: literal(head) });
  if (tail) out = and(out, { kind: 'binary', op: '==', left: call('substring', value, sub(length, literal(tail.length))), right: literal(tail) });
  if (middle.length > 0) {
    const inner = call('substring', value, literal(head.length), sub(length, literal(head.length + tail.length)));
    for (const piece of middle) out = and(out, call('contains_cs', inner, literal(piece)));
  }
  return out;
}
