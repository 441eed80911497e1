import type { NsdbExpression, NsdbField, NsdbSelect, NsdbStatement, NsdbTerm, NsdbValue } from './ast.js';

const value = (v: NsdbValue): string => (typeof v === 'number' ? String(v) : `'${v.replaceAll("'", "''")}'`);

const term = (t: NsdbTerm): string => (t.kind === 'literal' ? value(t.value) : t.offsetMs === 0 ? 'NOW' : `NOW ${t.sign} ${t.quantity}${t.unit}`);

const field = (f: NsdbField): string =>
  f.aggregation === undefined ? f.name : f.aggregation === 'count_distinct' ? `COUNT(DISTINCT ${f.name})` : `${f.aggregation.toUpperCase()}(${f.name})`;

function expression(e: NsdbExpression): string {
  switch (e.kind) {
    case 'comparison':
      return `${e.field} ${e.operator} ${term(e.value)}`;
    case 'range':
      return `${e.field} IN (${term(e.low)}, ${term(e.high)})`;
    case 'like':
      return `${e.field} LIKE ${value(e.pattern)}`;
    case 'null':
      return `${e.field} IS NULL`;
    case 'not':
      return `NOT (${expression(e.expression)})`;
    case 'and':
    case 'or':
      return `(${expression(e.left)}) ${e.kind.toUpperCase()} (${expression(e.right)})`;
  }
}

/**
 * The canonical text of a statement: keywords upper case, one space between tokens, every sub-expression
 * bracketed, strings quoted. Two texts that parse to the same statement (whitespace, keyword case, optional
 * quotes, `ASC`, redundant brackets aside) have the same canonical text, and it parses back to that statement.
 */
export function formatNsdb(statement: NsdbStatement): string {
  switch (statement.kind) {
    case 'select':
      return formatSelect(statement);
    case 'insert': {
      const parts = [`INSERT INTO ${statement.metric}`];
      if (statement.timestamp !== undefined) parts.push(`TS = ${statement.timestamp}`);
      const assigned = (o: Record<string, NsdbValue>) => Object.entries(o).map(([k, v]) => `${k} = ${value(v)}`).join(', ');
      if (Object.keys(statement.dimensions).length) parts.push(`DIM (${assigned(statement.dimensions)})`);
      if (Object.keys(statement.tags).length) parts.push(`TAGS (${assigned(statement.tags)})`);
      parts.push(`VAL = ${statement.value}`);
      return parts.join(' ');
    }
    case 'delete':
      return `DELETE FROM ${statement.metric} WHERE ${expression(statement.where)}`;
    case 'drop':
      return `DROP METRIC ${statement.metric}`;
  }
}

function formatSelect(s: NsdbSelect): string {
  const parts = ['SELECT'];
  if (s.distinct) parts.push('DISTINCT');
  parts.push(s.fields === '*' ? '*' : s.fields.map(field).join(', '));
  parts.push('FROM', s.metric);
  if (s.where) parts.push('WHERE', expression(s.where));
  if (s.groupBy) parts.push('GROUP BY', s.groupBy.kind === 'tag' ? s.groupBy.field : `INTERVAL ${s.groupBy.intervalMs}ms`);
  if (s.orderBy) parts.push('ORDER BY', s.orderBy.field + (s.orderBy.descending ? ' DESC' : ''));
  if (s.gracePeriodMs !== undefined) parts.push('SINCE', `${s.gracePeriodMs}ms`);
  if (s.limit !== undefined) parts.push('LIMIT', String(s.limit));
  return parts.join(' ');
}

/**
 * The key under which identical selects share one evaluation (whitespace, keyword case and writing aside):
 * the canonical text of the select. `db` and `namespace` are part of it, since a metric name alone is
 * only unique within its namespace.
 */
export function normalizeSelect(select: NsdbSelect, db = '', namespace = ''): string {
  return `${db}.${namespace}:${formatSelect(select)}`;
}

/** The canonical key of any statement (see `normalizeSelect`). */
export function canonicalKey(statement: NsdbStatement, db = '', namespace = ''): string {
  return `${db}.${namespace}:${formatNsdb(statement)}`;
}
