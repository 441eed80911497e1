import {
  GLOBAL_AGGREGATIONS,
  TIME_UNIT_MILLIS,
  type NsdbAggregation,
  type NsdbComparisonOperator,
  type NsdbDelete,
  type NsdbDrop,
  type NsdbExpression,
  type NsdbField,
  type NsdbGroupBy,
  type NsdbInsert,
  type NsdbOrder,
  type NsdbSelect,
  type NsdbStatement,
  type NsdbTerm,
  type NsdbTimeUnit,
  type NsdbValue,
} from './ast.js';
import { NSDB_RULES, NsdbParseError } from './errors.js';

/**
 * A hand-written recursive-descent parser of NSDb's SQL dialect (the grammar of radicalbit/NSDb's
 * `SQLStatementParser`, docs/SQL_doc.md), reading characters directly because NSDb's values are
 * context-sensitive (`a = my-value.1` is one string, `LIKE $end` a pattern, `now-2h` a time):
 *
 *   statement := select | insert | delete | drop   [';']
 *   select    := SELECT [DISTINCT] ('*' | item (',' item)*) FROM metric [WHERE expr]
 *                [GROUP BY (INTERVAL [n] unit | tag)] [ORDER BY field [ASC|DESC]] [SINCE n unit] [LIMIT n]
 *   item      := agg '(' [DISTINCT] (field | '*') ')' | field
 *   expr      := unary [(AND | OR) expr]            -- right associative, no precedence (as NSDb)
 *   unary     := NOT unary | '(' expr ')' | field (IS [NOT] NULL | IN '(' term ',' term ')' | LIKE pattern | op term)
 *   term      := NOW [(+|-) n unit] | number        -- and, after = / != / <>, a string
 *   insert    := INSERT INTO metric [TS '=' n] [DIM '(' a=v, … ')'] [TAGS '(' a=v, … ')'] VAL '=' number
 *   delete    := DELETE FROM metric WHERE expr
 *   drop      := DROP METRIC metric
 *
 * Keywords are case-insensitive. Units: ms, s/sec/second, m/min/minute, h/hour, d/day.
 */
const AGGREGATIONS: Record<string, NsdbAggregation> = { count: 'count', sum: 'sum', min: 'min', max: 'max', avg: 'avg', first: 'first', last: 'last' };

const UNITS: Record<string, NsdbTimeUnit> = {
  ms: 'ms', s: 's', sec: 's', second: 's', seconds: 's', m: 'm', min: 'm', minute: 'm', minutes: 'm',
  h: 'h', hour: 'h', hours: 'h', d: 'd', day: 'd', days: 'd',
};

/** Words that end a clause: never taken as a field, tag or metric name. */
const RESERVED = new Set(['select', 'from', 'where', 'group', 'order', 'limit', 'since', 'and', 'or', 'not', 'is', 'null', 'in', 'like', 'distinct', 'now']);

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isIdentPart = (c: string | undefined) => isLetter(c) || isDigit(c);
/** Characters of an unquoted string value (NSDb's `specialString`). */
const isValuePart = (c: string | undefined) => isIdentPart(c) || (c !== undefined && '-.:~!?'.includes(c));
/** Characters of an unquoted LIKE pattern (NSDb's `wildCardString`). */
const isPatternPart = (c: string | undefined) => isValuePart(c) || c === '$';

/** Parses one NSDb SQL statement; throws `NsdbParseError` with a human reason. */
export function parseNsdb(text: string): NsdbStatement {
  return new NsdbParser(text).statement();
}

/** Parses a statement that must be a SELECT (else `not a select statement`). */
export function parseNsdbSelect(text: string): NsdbSelect {
  const statement = parseNsdb(text);
  if (statement.kind !== 'select') throw new NsdbParseError('not a select statement');
  return statement;
}

class NsdbParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  statement(): NsdbStatement {
    this.ws();
    let statement: NsdbStatement;
    if (this.peekKeyword('select')) statement = this.select();
    else if (this.peekKeyword('insert')) statement = this.insert();
    else if (this.peekKeyword('delete')) statement = this.delete();
    else if (this.peekKeyword('drop')) statement = this.drop();
    else throw this.error('expected SELECT, INSERT, DELETE or DROP');
    this.ws();
    if (this.text[this.pos] === ';') {
      this.pos++;
      this.ws();
    }
    if (this.pos < this.text.length) throw this.error('unexpected text');
    return statement;
  }

  // ── statements ──

  private select(): NsdbSelect {
    this.expectKeyword('select');
    const distinct = this.keyword('distinct');
    let fields: NsdbSelect['fields'];
    if (this.punct('*')) fields = '*';
    else {
      fields = [this.item()];
      while (this.punct(',')) fields.push(this.item());
    }
    this.expectKeyword('from');
    const metric = this.metricName();
    const select: NsdbSelect = { kind: 'select', metric, distinct, fields };
    if (this.keyword('where')) select.where = this.expression();
    if (this.keywords('group', 'by')) select.groupBy = this.groupBy();
    if (this.keywords('order', 'by')) select.orderBy = this.order();
    if (this.keyword('since')) {
      const quantity = this.integer('a number of time units');
      const unit = this.unit();
      select.gracePeriodMs = quantity * TIME_UNIT_MILLIS[unit];
    }
    if (this.keyword('limit')) {
      const at = this.pos;
      const limit = this.integer('a limit');
      if (limit <= 0) throw new NsdbParseError('limit must be a positive integer', at);
      select.limit = limit;
    }
    validateSelect(select);
    return select;
  }

  private item(): NsdbField {
    this.ws();
    const at = this.pos;
    const name = this.identifier('a field or an aggregation');
    const aggregation = AGGREGATIONS[name.toLowerCase()];
    if (aggregation && this.punct('(')) {
      const distinct = this.keyword('distinct');
      const target = this.punct('*') ? '*' : this.identifier('a field or *');
      this.expectPunct(')');
      if (distinct && aggregation !== 'count') throw new NsdbParseError(NSDB_RULES.DISTINCT_ONLY_COUNT, at);
      return { name: target, aggregation: distinct ? 'count_distinct' : aggregation };
    }
    if (RESERVED.has(name.toLowerCase())) throw new NsdbParseError(`expected a field or an aggregation, found keyword '${name}'`, at);
    return { name };
  }

  private groupBy(): NsdbGroupBy {
    if (this.keyword('interval')) {
      this.ws();
      const quantity = isDigit(this.text[this.pos]) ? this.integer('an interval') : 1;
      if (quantity <= 0) throw this.error('the interval must be positive');
      const unit = this.unit();
      return { kind: 'interval', intervalMs: quantity * TIME_UNIT_MILLIS[unit], quantity, unit };
    }
    return { kind: 'tag', field: this.fieldName('a tag or INTERVAL') };
  }

  private order(): NsdbOrder {
    const field = this.fieldName('a field to order by');
    if (this.keyword('desc')) return { field, descending: true };
    this.keyword('asc');
    return { field, descending: false };
  }

  private insert(): NsdbInsert {
    this.expectKeyword('insert');
    this.expectKeyword('into');
    const metric = this.metricName();
    const insert: NsdbInsert = { kind: 'insert', metric, dimensions: {}, tags: {}, value: 0 };
    if (this.keyword('ts')) {
      this.expectPunct('=');
      insert.timestamp = this.integer('a timestamp');
    }
    if (this.keyword('dim')) insert.dimensions = this.assignments();
    if (this.keyword('tags')) insert.tags = this.assignments();
    this.expectKeyword('val');
    this.expectPunct('=');
    insert.value = this.number('a number');
    return insert;
  }

  private assignments(): Record<string, NsdbValue> {
    this.expectPunct('(');
    const out = new Map<string, NsdbValue>();
    do {
      const at = (this.ws(), this.pos);
      const name = this.fieldName('a name');
      if (out.has(name)) throw new NsdbParseError(`'${name}' is assigned twice`, at);
      this.expectPunct('=');
      out.set(name, this.value());
    } while (this.punct(','));
    this.expectPunct(')');
    return Object.fromEntries(out);
  }

  private delete(): NsdbDelete {
    this.expectKeyword('delete');
    this.expectKeyword('from');
    const metric = this.metricName();
    this.expectKeyword('where');
    return { kind: 'delete', metric, where: this.expression() };
  }

  private drop(): NsdbDrop {
    this.expectKeyword('drop');
    this.expectKeyword('metric');
    return { kind: 'drop', metric: this.metricName() };
  }

  // ── expressions ──

  private expression(): NsdbExpression {
    const left = this.unary();
    if (this.keyword('and')) return { kind: 'and', left, right: this.expression() };
    if (this.keyword('or')) return { kind: 'or', left, right: this.expression() };
    return left;
  }

  private unary(): NsdbExpression {
    if (this.keyword('not')) return { kind: 'not', expression: this.unary() };
    if (this.punct('(')) {
      const inner = this.expression();
      this.expectPunct(')');
      return inner;
    }
    const field = this.fieldName('a condition');
    if (this.keyword('is')) {
      const negated = this.keyword('not');
      this.expectKeyword('null');
      const test: NsdbExpression = { kind: 'null', field };
      return negated ? { kind: 'not', expression: test } : test;
    }
    if (this.keyword('in')) {
      this.expectPunct('(');
      const low = this.term(false);
      this.expectPunct(',');
      const high = this.term(false);
      this.expectPunct(')');
      return { kind: 'range', field, low, high };
    }
    if (this.keyword('like')) return { kind: 'like', field, pattern: this.pattern() };
    this.ws();
    const two = this.text.slice(this.pos, this.pos + 2);
    if (two === '!=' || two === '<>') {
      this.pos += 2;
      return { kind: 'not', expression: { kind: 'comparison', field, operator: '=', value: this.term(true) } };
    }
    let operator: NsdbComparisonOperator;
    if (two === '>=' || two === '<=') {
      operator = two;
      this.pos += 2;
    } else if (this.text[this.pos] === '=' || this.text[this.pos] === '>' || this.text[this.pos] === '<') {
      operator = this.text[this.pos] as NsdbComparisonOperator;
      this.pos++;
    } else throw this.error(`expected a comparison (=, >, >=, <, <=, IN, LIKE, IS) after '${field}'`);
    return { kind: 'comparison', field, operator, value: this.term(operator === '=') };
  }

  /** `now [± n unit]` or a number; with `strings`, a string value too. */
  private term(strings: boolean): NsdbTerm {
    this.ws();
    if (this.keyword('now')) {
      this.ws();
      const sign = this.text[this.pos];
      if (sign !== '+' && sign !== '-') return { kind: 'now', offsetMs: 0, quantity: 0, unit: 's', sign: '+' };
      this.pos++;
      const quantity = this.integer('a number of time units');
      const unit = this.unit();
      const offset = quantity * TIME_UNIT_MILLIS[unit];
      return { kind: 'now', offsetMs: sign === '-' ? -offset : offset, quantity, unit, sign };
    }
    if (isDigit(this.text[this.pos]) || (this.text[this.pos] === '-' && isDigit(this.text[this.pos + 1]))) {
      const at = this.pos;
      const n = this.number('a number');
      if (strings && isValuePart(this.text[this.pos])) {
        this.pos = at; // e.g. `host = 10-a`: a string that starts with digits
        return { kind: 'literal', value: this.stringValue() };
      }
      return { kind: 'literal', value: n };
    }
    if (strings) return { kind: 'literal', value: this.stringValue() };
    throw this.error('expected a number or now');
  }

  /** A dimension/tag value: a number, a quoted string, or an unquoted string of NSDb's value characters. */
  private value(): NsdbValue {
    this.ws();
    if (isDigit(this.text[this.pos]) || (this.text[this.pos] === '-' && isDigit(this.text[this.pos + 1]))) {
      const at = this.pos;
      const n = this.number('a number');
      if (!isValuePart(this.text[this.pos])) return n;
      this.pos = at;
    }
    return this.stringValue();
  }

  private stringValue(): string {
    this.ws();
    if (this.text[this.pos] === "'") return this.quoted();
    const start = this.pos;
    if (!isLetter(this.text[this.pos]) && !isDigit(this.text[this.pos])) throw this.error('expected a value');
    while (isValuePart(this.text[this.pos])) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private pattern(): string {
    this.ws();
    if (this.text[this.pos] === "'") return this.quoted();
    const start = this.pos;
    while (isPatternPart(this.text[this.pos])) this.pos++;
    if (start === this.pos) throw this.error('expected a LIKE pattern');
    return this.text.slice(start, this.pos);
  }

  /** `'…'`, a doubled quote standing for one. */
  private quoted(): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw new NsdbParseError('unterminated string', start);
      if (c === '\u0000') throw new NsdbParseError('a string must not contain NUL characters', this.pos);
      this.pos++;
      if (c === "'") {
        if (this.text[this.pos] !== "'") return out;
        this.pos++;
      }
      out += c;
    }
  }

  // ── lexical helpers ──

  private ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private peekKeyword(word: string): boolean {
    this.ws();
    const end = this.pos + word.length;
    return this.text.slice(this.pos, end).toLowerCase() === word && !isIdentPart(this.text[end]);
  }

  private keyword(word: string): boolean {
    if (!this.peekKeyword(word)) return false;
    this.pos += word.length;
    return true;
  }

  /** A keyword pair such as GROUP BY: both or nothing consumed. */
  private keywords(first: string, second: string): boolean {
    const at = this.pos;
    if (!this.keyword(first)) return false;
    if (this.keyword(second)) return true;
    this.pos = at;
    throw this.error(`expected ${first.toUpperCase()} ${second.toUpperCase()}`);
  }

  private expectKeyword(word: string): void {
    if (!this.keyword(word)) throw this.error(`expected ${word.toUpperCase()}`);
  }

  private punct(c: string): boolean {
    this.ws();
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  private expectPunct(c: string): void {
    if (!this.punct(c)) throw this.error(`expected '${c}'`);
  }

  private identifier(what: string): string {
    this.ws();
    const start = this.pos;
    if (!isLetter(this.text[this.pos])) throw this.error(`expected ${what}`);
    while (isIdentPart(this.text[this.pos])) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** A field, dimension or tag name: an identifier that is no keyword. */
  private fieldName(what: string): string {
    this.ws();
    const at = this.pos;
    const name = this.identifier(what);
    if (RESERVED.has(name.toLowerCase())) {
      this.pos = at;
      throw this.error(`expected ${what}`);
    }
    return name;
  }

  /** NSDb's metric names: a letter, then letters, digits and underscores. */
  private metricName(): string {
    this.ws();
    const at = this.pos;
    if (!isLetter(this.text[this.pos]) || this.text[this.pos] === '_') throw this.error('expected a metric name');
    const name = this.identifier('a metric name');
    if (RESERVED.has(name.toLowerCase())) {
      this.pos = at;
      throw this.error('expected a metric name');
    }
    return name;
  }

  private unit(): NsdbTimeUnit {
    this.ws();
    const start = this.pos;
    while (isLetter(this.text[this.pos])) this.pos++;
    const unit = UNITS[this.text.slice(start, this.pos).toLowerCase()];
    if (!unit) {
      this.pos = start;
      throw this.error('expected a time unit (d, h, m, s or ms)');
    }
    return unit;
  }

  private number(what: string): number {
    this.ws();
    const match = /^-?\d+(\.\d+)?/.exec(this.text.slice(this.pos));
    if (!match) throw this.error(`expected ${what}`);
    const n = Number(match[0]);
    if (!Number.isFinite(n) || (match[1] === undefined && !Number.isSafeInteger(n))) throw this.error(`${what} out of range`);
    this.pos += match[0].length;
    return n;
  }

  private integer(what: string): number {
    this.ws();
    const match = /^-?\d+/.exec(this.text.slice(this.pos));
    if (!match || this.text[this.pos + match[0].length] === '.') throw this.error(`expected ${what} (an integer)`);
    const n = Number(match[0]);
    if (!Number.isSafeInteger(n)) throw this.error(`${what} out of range`);
    this.pos += match[0].length;
    return n;
  }

  private error(reason: string): NsdbParseError {
    this.ws();
    const rest = this.text.slice(this.pos, this.pos + 20);
    return new NsdbParseError(rest ? `${reason}, found '${rest}'` : `${reason}, found the end of the statement`, this.pos);
  }
}

/**
 * NSDb's rules on a select that need no schema (io.radicalbit.nsdb.statement.StatementParser /
 * FieldsParser): the ones that need the metric's schema (group by a tag, aggregations on a tag, fields
 * that exist) are checked where the schema is known.
 */
export function validateSelect(select: NsdbSelect): void {
  const fields = select.fields === '*' ? [] : select.fields;
  const aggregated = fields.filter((f) => f.aggregation !== undefined);
  if (fields.filter((f) => f.aggregation === 'count').length > 1 || fields.filter((f) => f.aggregation === 'count_distinct').length > 1) {
    throw new NsdbParseError(NSDB_RULES.MULTIPLE_COUNT_AGGREGATIONS);
  }
  if (select.gracePeriodMs !== undefined && select.groupBy?.kind !== 'interval') throw new NsdbParseError(NSDB_RULES.GRACE_PERIOD_NOT_ALLOWED);
  const group = select.groupBy;
  if (group) {
    const groupField = group.kind === 'tag' ? group.field : 'timestamp';
    if (select.orderBy && !['value', '*', groupField].includes(select.orderBy.field)) throw new NsdbParseError(NSDB_RULES.SORT_DIMENSION_NOT_IN_GROUP);
    if (aggregated.length === 0) throw new NsdbParseError(NSDB_RULES.NO_AGGREGATION_GROUP_BY);
    if (fields.length > 1) throw new NsdbParseError(NSDB_RULES.MORE_FIELDS_GROUP_BY);
    if (select.distinct) throw new NsdbParseError(NSDB_RULES.GROUP_BY_DISTINCT);
    return;
  }
  if (aggregated.some((f) => !GLOBAL_AGGREGATIONS.has(f.aggregation!))) throw new NsdbParseError(NSDB_RULES.NO_GROUP_BY_AGGREGATION);
  if (select.distinct && (fields.length !== 1 || aggregated.length > 0)) throw new NsdbParseError(NSDB_RULES.MORE_FIELDS_DISTINCT);
}
