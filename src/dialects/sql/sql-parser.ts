import type {
  Assignment,
  BinaryOperator,
  ColumnPath,
  Compound,
  Expr,
  FromItem,
  Insert,
  InsertSource,
  ObjectEntry,
  OnConflict,
  OrderItem,
  Query,
  Select,
  SelectItem,
  Span,
  Statement,
  SystemTime,
  TypedScalar,
} from '../../contexts/collections/query/ast.js';
import { SqlSyntaxError, tokenize, type Token } from './sql-lexer.js';

/** Words that end an expression or clause: never taken as an alias. */
const RESERVED = new Set(
  (
    'select from where group by having order limit offset union all intersect except join left right inner outer cross on as and or not in is null ' +
    'like between distinct insert into values update set delete erase unset patch for begin commit rollback end case when then else true false asc desc ' +
    'objects conflict do nothing exists nulls with'
  ).split(' '),
);

const TYPED_LITERALS: Record<string, TypedScalar['@type']> = {
  date: 'xsd:date',
  timestamp: 'xsd:dateTime',
  time: 'xsd:time',
  interval: 'xsd:duration',
  duration: 'xsd:duration',
};

/** Parses one statement (an optional `;` may end it) into the collections' query language. */
export function parseSql(sql: string): Statement {
  return new Parser(sql).statement();
}

class Parser {
  private readonly tokens: Token[];
  private at = 0;
  private positional = 0;

  constructor(private readonly sql: string) {
    this.tokens = tokenize(sql);
  }

  statement(): Statement {
    const statement = this.oneStatement();
    this.op(';');
    if (this.peek().kind !== 'eof') this.fail(`Unexpected ${this.describe(this.peek())}, expected end of statement`);
    return statement;
  }

  private oneStatement(): Statement {
    const start = this.peek();
    const word = this.peekWord();
    switch (word) {
      case 'select':
      case 'values':
      case '(':
        return this.query();
      case 'insert':
        return this.insert();
      case 'update':
        return this.update();
      case 'delete':
      case 'erase':
        return this.deleteOrErase(word);
      case 'begin':
      case 'commit':
      case 'end':
      case 'rollback': {
        this.next();
        this.word('transaction') || this.word('work');
        return { kind: word === 'end' ? 'commit' : word, pos: this.span(start) };
      }
      default:
        return this.fail(start.kind === 'eof' ? 'Unexpected end of input, expected a statement' : `Unexpected ${this.describe(start)}, expected a statement`);
    }
  }

  // ---- queries ----

  private query(): Query {
    const start = this.peek();
    let left = this.queryTerm();
    for (;;) {
      let op: Compound['op'] | undefined;
      if (this.word('union')) op = this.word('all') ? 'union all' : (this.word('distinct'), 'union');
      else if (this.word('intersect')) op = 'intersect';
      else if (this.word('except')) op = 'except';
      if (!op) break;
      const right = this.queryTerm();
      left = { kind: 'compound', op, left, right, orderBy: [], pos: this.span(start) };
    }
    const orderBy = this.orderBy();
    const { limit, offset } = this.limits();
    if (orderBy.length === 0 && !limit && !offset) return left;
    if (left.kind === 'select' && left.orderBy.length === 0 && !left.limit && !left.offset) return { ...left, orderBy, limit, offset };
    if (left.kind === 'compound' && left.orderBy.length === 0 && !left.limit && !left.offset) return { ...left, orderBy, limit, offset };
    return this.fail('ORDER BY, LIMIT or OFFSET given twice', start);
  }

  private queryTerm(): Query {
    if (this.peekOp('(')) {
      this.next();
      const q = this.query();
      this.expectOp(')');
      return q;
    }
    if (this.peekWord() === 'values') return this.values();
    return this.select();
  }

  private values(): Query {
    const start = this.expectWord('values');
    return { kind: 'values', rows: this.valueRows(), pos: this.span(start) };
  }

  private valueRows(): Expr[][] {
    const rows: Expr[][] = [];
    do {
      this.expectOp('(');
      rows.push(this.peekOp(')') ? [] : this.exprList());
      this.expectOp(')');
    } while (this.op(','));
    return rows;
  }

  private select(): Select {
    const start = this.expectWord('select');
    const distinct = this.word('distinct') ? true : (this.word('all'), false);
    const items: SelectItem[] = [];
    do items.push(this.selectItem());
    while (this.op(','));
    const from: FromItem[] = [];
    if (this.word('from')) {
      do from.push(this.fromItem());
      while (this.op(','));
    }
    const where = this.word('where') ? this.expr() : undefined;
    const groupBy: Expr[] = [];
    if (this.word('group')) {
      this.expectWord('by');
      groupBy.push(...this.exprList());
    }
    const having = this.word('having') ? this.expr() : undefined;
    return { kind: 'select', distinct, items, from, where, groupBy, having, orderBy: [], pos: this.span(start) };
  }

  private selectItem(): SelectItem {
    const start = this.peek();
    if (this.op('*')) return { kind: 'star', pos: this.span(start) };
    const t0 = this.peek();
    const t1 = this.tokens[this.at + 1];
    const t2 = this.tokens[this.at + 2];
    if ((t0.kind === 'ident' || t0.kind === 'quoted') && t1?.kind === 'op' && t1.text === '.' && t2?.kind === 'op' && t2.text === '*') {
      this.at += 3;
      return { kind: 'star', table: t0.text, pos: this.span(start) };
    }
    const expr = this.expr();
    const alias = this.alias();
    return { kind: 'expr', expr, alias, pos: this.span(start) };
  }

  private alias(): string | undefined {
    if (this.word('as')) return this.name('an alias');
    const t = this.peek();
    if (t.kind === 'quoted' || (t.kind === 'ident' && !RESERVED.has(t.text.toLowerCase()))) {
      this.next();
      return t.text;
    }
    return undefined;
  }

  private fromItem(): FromItem {
    const start = this.peek();
    let left = this.fromPrimary();
    for (;;) {
      let type: 'inner' | 'left' | 'cross' | undefined;
      if (this.word('join')) type = 'inner';
      else if (this.peekWord() === 'inner' || this.peekWord() === 'left' || this.peekWord() === 'cross') {
        const w = this.next().text.toLowerCase() as 'inner' | 'left' | 'cross';
        if (w === 'left') this.word('outer');
        this.expectWord('join');
        type = w;
      }
      if (!type) return left;
      const right = this.fromPrimary();
      const on = type !== 'cross' && this.word('on') ? this.expr() : undefined;
      left = { kind: 'join', type, left, right, on, pos: this.span(start) };
    }
  }

  private fromPrimary(): FromItem {
    const start = this.peek();
    if (this.op('(')) {
      const query = this.query();
      this.expectOp(')');
      const alias = this.alias();
      if (!alias) this.fail('A subquery in FROM needs an alias');
      return { kind: 'subquery', query, alias: alias!, pos: this.span(start) };
    }
    let name = this.name('a table name');
    let schema: string | undefined;
    if (this.op('.')) {
      schema = name;
      name = this.name('a table name');
    }
    const pos = this.span(start);
    let systemTime = this.systemTime();
    const alias = this.alias();
    systemTime ??= this.systemTime();
    return { kind: 'table', name, schema, alias, systemTime, pos };
  }

  private systemTime(): SystemTime | undefined {
    if (this.peekWord() !== 'for') return undefined;
    this.next();
    const word = this.next();
    if (word.text.toLowerCase() !== 'system_time') this.fail('Expected SYSTEM_TIME after FOR', word);
    if (this.word('all')) return { kind: 'all' };
    if (this.word('as')) {
      this.expectWord('of');
      return { kind: 'asOf', at: this.additive() };
    }
    if (this.word('between')) {
      const from = this.additive();
      this.expectWord('and');
      return { kind: 'between', from, to: this.additive() };
    }
    if (this.word('from')) {
      const from = this.additive();
      this.expectWord('to');
      return { kind: 'fromTo', from, to: this.additive() };
    }
    return this.fail('Expected AS OF, ALL, BETWEEN or FROM after FOR SYSTEM_TIME');
  }

  private orderBy(): OrderItem[] {
    if (this.peekWord() !== 'order') return [];
    this.next();
    this.expectWord('by');
    const items: OrderItem[] = [];
    do {
      const expr = this.expr();
      const descending = this.word('desc') ? true : (this.word('asc'), false);
      let nulls: 'first' | 'last' | undefined;
      if (this.word('nulls')) nulls = this.word('first') ? 'first' : (this.expectWord('last'), 'last');
      items.push({ expr, descending, nulls });
    } while (this.op(','));
    return items;
  }

  private limits(): { limit?: Expr; offset?: Expr } {
    let limit: Expr | undefined;
    let offset: Expr | undefined;
    if (this.word('limit')) {
      limit = this.expr();
      if (this.op(',')) {
        offset = limit;
        limit = this.expr();
      }
    }
    if (this.word('offset')) offset = this.expr();
    return { limit, offset };
  }

  // ---- writes ----

  private insert(): Insert {
    const start = this.expectWord('insert');
    this.word('or');
    this.expectWord('into');
    const tableToken = this.peek();
    const table = this.name('a table name');
    const tablePos = this.span(tableToken);
    let columns: string[] | undefined;
    if (this.peekOp('(') && !this.looksLikeQuery(1)) {
      this.next();
      columns = [];
      do columns.push(this.name('a column name'));
      while (this.op(','));
      this.expectOp(')');
    }
    let source: InsertSource;
    if (this.word('values')) source = { kind: 'values', rows: this.valueRows() };
    else if (this.word('objects') || this.peekOp('{') || this.peek().kind === 'param' || this.peek().kind === 'named') {
      const rows: Expr[] = [];
      do rows.push(this.expr());
      while (this.op(','));
      source = { kind: 'objects', rows };
    } else if (this.peekWord() === 'select' || this.peekOp('(')) source = { kind: 'query', query: this.query() };
    else return this.fail(`Unexpected ${this.describe(this.peek())}, expected VALUES, OBJECTS, an object or a query`);
    let onConflict: OnConflict | undefined;
    if (this.word('on')) {
      this.expectWord('conflict');
      this.expectOp('(');
      const cols: string[] = [];
      do cols.push(this.name('a column name'));
      while (this.op(','));
      this.expectOp(')');
      this.expectWord('do');
      if (this.word('nothing')) onConflict = { columns: cols, action: { kind: 'nothing' } };
      else {
        this.expectWord('update');
        this.expectWord('set');
        const set = this.assignments();
        const where = this.word('where') ? this.expr() : undefined;
        onConflict = { columns: cols, action: { kind: 'update', set, where } };
      }
    }
    return { kind: 'insert', table, columns, source, onConflict, pos: this.span(start), tablePos };
  }

  private looksLikeQuery(ahead: number): boolean {
    const t = this.tokens[this.at + ahead];
    return t?.kind === 'ident' && ['select', 'values'].includes(t.text.toLowerCase());
  }

  private update(): Statement {
    const start = this.expectWord('update');
    const tableToken = this.peek();
    const table = this.name('a table name');
    const tablePos = this.span(tableToken);
    const alias = ['set', 'unset', 'patch', 'remove'].includes(this.peekWord() ?? '') ? undefined : this.alias();
    const set: Assignment[] = [];
    const unset: ColumnPath[] = [];
    let patch: Expr | undefined;
    let any = false;
    for (;;) {
      if (this.word('set')) set.push(...this.assignments());
      else if (this.word('unset') || this.word('remove')) {
        do unset.push(this.columnPath());
        while (this.op(','));
      } else if (this.word('patch')) patch = this.expr();
      else break;
      any = true;
    }
    if (!any) this.fail(`Unexpected ${this.describe(this.peek())}, expected SET, UNSET or PATCH`);
    const where = this.word('where') ? this.expr() : undefined;
    return { kind: 'update', table, alias, set, unset, patch, where, pos: this.span(start), tablePos };
  }

  private deleteOrErase(kind: 'delete' | 'erase'): Statement {
    const start = this.next();
    this.expectWord('from');
    const tableToken = this.peek();
    const table = this.name('a table name');
    const tablePos = this.span(tableToken);
    const alias = this.alias();
    const where = this.word('where') ? this.expr() : undefined;
    return { kind, table, alias, where, pos: this.span(start), tablePos };
  }

  private assignments(): Assignment[] {
    const out: Assignment[] = [];
    do {
      const target = this.columnPath();
      this.expectOp('=');
      out.push({ target, value: this.expr() });
    } while (this.op(','));
    return out;
  }

  private columnPath(): ColumnPath {
    const start = this.peek();
    const path: (string | number)[] = [this.name('a column name')];
    for (;;) {
      if (this.op('.')) path.push(this.name('a key'));
      else if (this.op('[')) {
        const t = this.next();
        if (t.kind === 'number' && /^\d+$/.test(t.text)) path.push(Number(t.text));
        else if (t.kind === 'string') path.push(t.text);
        else this.fail('Expected a key or an index', t);
        this.expectOp(']');
      } else break;
    }
    return { path, pos: this.span(start) };
  }

  // ---- expressions, lowest precedence first ----

  private exprList(): Expr[] {
    const out: Expr[] = [];
    do out.push(this.expr());
    while (this.op(','));
    return out;
  }

  expr(): Expr {
    return this.or();
  }

  private or(): Expr {
    const start = this.peek();
    let left = this.and();
    while (this.word('or')) left = { kind: 'binary', op: 'or', left, right: this.and(), pos: this.span(start) };
    return left;
  }

  private and(): Expr {
    const start = this.peek();
    let left = this.not();
    while (this.word('and')) left = { kind: 'binary', op: 'and', left, right: this.not(), pos: this.span(start) };
    return left;
  }

  private not(): Expr {
    const start = this.peek();
    if (this.word('not')) return { kind: 'unary', op: 'not', operand: this.not(), pos: this.span(start) };
    return this.comparison();
  }

  private comparison(): Expr {
    const start = this.peek();
    let left = this.concat();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'op' && ['=', '<>', '<', '<=', '>', '>='].includes(t.text)) {
        this.next();
        left = { kind: 'binary', op: t.text as BinaryOperator, left, right: this.concat(), pos: this.span(start) };
        continue;
      }
      if (this.word('is')) {
        const negated = this.word('not');
        this.expectWord('null');
        left = { kind: 'isNull', operand: left, negated, pos: this.span(start) };
        continue;
      }
      const save = this.at;
      const negated = this.word('not');
      if (this.word('in')) {
        this.expectOp('(');
        if (this.looksLikeQuery(0)) {
          const query = this.query();
          this.expectOp(')');
          left = { kind: 'inQuery', operand: left, query, negated, pos: this.span(start) };
        } else {
          const list = this.peekOp(')') ? [] : this.exprList();
          this.expectOp(')');
          left = { kind: 'in', operand: left, list, negated, pos: this.span(start) };
        }
        continue;
      }
      if (this.word('like')) {
        left = { kind: 'binary', op: negated ? 'not like' : 'like', left, right: this.concat(), pos: this.span(start) };
        continue;
      }
      if (this.word('between')) {
        const low = this.concat();
        this.expectWord('and');
        left = { kind: 'between', operand: left, low, high: this.concat(), negated, pos: this.span(start) };
        continue;
      }
      this.at = save;
      return left;
    }
  }

  private concat(): Expr {
    const start = this.peek();
    let left = this.additive();
    while (this.op('||')) left = { kind: 'binary', op: '||', left, right: this.additive(), pos: this.span(start) };
    return left;
  }

  private additive(): Expr {
    const start = this.peek();
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.text !== '+' && t.text !== '-')) return left;
      this.next();
      left = { kind: 'binary', op: t.text, left, right: this.multiplicative(), pos: this.span(start) };
    }
  }

  private multiplicative(): Expr {
    const start = this.peek();
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['*', '/', '%'].includes(t.text)) return left;
      this.next();
      left = { kind: 'binary', op: t.text as BinaryOperator, left, right: this.unary(), pos: this.span(start) };
    }
  }

  private unary(): Expr {
    const start = this.peek();
    if (this.peekOp('-') || this.peekOp('+')) {
      const op = this.next().text as '-' | '+';
      const operand = this.unary();
      if (op === '-' && operand.kind === 'literal' && typeof operand.value === 'number') return { kind: 'literal', value: -operand.value, pos: this.span(start) };
      return { kind: 'unary', op, operand, pos: this.span(start) };
    }
    return this.postfix();
  }

  private postfix(): Expr {
    const start = this.peek();
    let e = this.primary();
    for (;;) {
      if (this.op('[')) {
        const key = this.expr();
        this.expectOp(']');
        e = { kind: 'access', base: e, key, pos: this.span(start) };
      } else if (this.peekOp('.') && e.kind !== 'ident') {
        this.next();
        const keyToken = this.peek();
        const key = this.name('a key');
        e = { kind: 'access', base: e, key: { kind: 'literal', value: key, pos: this.span(keyToken) }, pos: this.span(start) };
      } else return e;
    }
  }

  private primary(): Expr {
    const t = this.peek();
    const lit = (value: Expr & { kind: 'literal' }) => value;
    switch (t.kind) {
      case 'number': {
        this.next();
        const n = Number(t.text);
        if (/^\d+$/.test(t.text) && !Number.isSafeInteger(n)) return lit({ kind: 'literal', value: { '@type': 'xsd:integer', '@value': t.text }, pos: this.span(t) });
        return lit({ kind: 'literal', value: n, pos: this.span(t) });
      }
      case 'string':
        this.next();
        return lit({ kind: 'literal', value: t.text, pos: this.span(t) });
      case 'datetime':
        this.next();
        return lit({ kind: 'literal', value: { '@type': 'xsd:dateTime', '@value': t.text.replace(' ', 'T') }, pos: this.span(t) });
      case 'date':
        this.next();
        return lit({ kind: 'literal', value: { '@type': 'xsd:date', '@value': t.text }, pos: this.span(t) });
      case 'time':
        this.next();
        return lit({ kind: 'literal', value: { '@type': 'xsd:time', '@value': t.text }, pos: this.span(t) });
      case 'duration':
        this.next();
        return lit({ kind: 'literal', value: { '@type': 'xsd:duration', '@value': t.text }, pos: this.span(t) });
      case 'param':
        this.next();
        return { kind: 'param', index: this.positional++, pos: this.span(t) };
      case 'named':
        this.next();
        return { kind: 'param', name: t.text, pos: this.span(t) };
      case 'op':
        if (t.text === '(') {
          this.next();
          if (this.looksLikeQuery(0)) {
            const query = this.query();
            this.expectOp(')');
            return { kind: 'subquery', query, pos: this.span(t) };
          }
          const e = this.expr();
          this.expectOp(')');
          return e;
        }
        if (t.text === '{') return this.object();
        if (t.text === '[') {
          this.next();
          const items = this.peekOp(']') ? [] : this.exprList();
          this.expectOp(']');
          return { kind: 'array', items, pos: this.span(t) };
        }
        return this.fail(`Unexpected ${this.describe(t)}, expected an expression`);
      case 'quoted':
        return this.identChain();
      case 'ident':
        return this.word_(t);
      default:
        return this.fail(t.kind === 'eof' ? 'Unexpected end of input, expected an expression' : `Unexpected ${this.describe(t)}, expected an expression`);
    }
  }

  private word_(t: Token): Expr {
    const w = t.text.toLowerCase();
    if (w === 'null' || w === 'true' || w === 'false') {
      this.next();
      return { kind: 'literal', value: w === 'null' ? null : w === 'true', pos: this.span(t) };
    }
    if (w in TYPED_LITERALS && this.tokens[this.at + 1]?.kind === 'string') {
      this.next();
      const s = this.next();
      return { kind: 'literal', value: { '@type': TYPED_LITERALS[w], '@value': s.text }, pos: this.span(t) };
    }
    if (w === 'case') return this.caseExpr();
    if (w === 'exists') {
      this.next();
      this.expectOp('(');
      const query = this.query();
      this.expectOp(')');
      return { kind: 'exists', query, pos: this.span(t) };
    }
    if (w === 'cast' && this.tokens[this.at + 1]?.text === '(') {
      this.next();
      this.next();
      const value = this.expr();
      this.expectWord('as');
      const typeToken = this.next();
      if (typeToken.kind !== 'ident') this.fail('Expected a type name', typeToken);
      if (this.op('(')) {
        while (!this.peekOp(')') && this.peek().kind !== 'eof') this.next();
        this.expectOp(')');
      }
      this.expectOp(')');
      return { kind: 'call', name: 'cast', args: [value, { kind: 'literal', value: typeToken.text.toLowerCase(), pos: this.span(typeToken) }], pos: this.span(t) };
    }
    if ((w === 'current_timestamp' || w === 'current_date' || w === 'current_time') && !(this.tokens[this.at + 1]?.text === '(')) {
      this.next();
      return { kind: 'call', name: w, args: [], pos: this.span(t) };
    }
    if (RESERVED.has(w)) return this.fail(`Unexpected ${this.describe(t)}, expected an expression`);
    if (this.tokens[this.at + 1]?.kind === 'op' && this.tokens[this.at + 1].text === '(') return this.call();
    return this.identChain();
  }

  private identChain(): Expr {
    const start = this.peek();
    const parts = [this.next().text];
    while (this.peekOp('.')) {
      const n = this.tokens[this.at + 1];
      if (!(n?.kind === 'ident' || n?.kind === 'quoted')) break;
      this.at += 2;
      parts.push(n.text);
    }
    return { kind: 'ident', parts, pos: this.span(start) };
  }

  private call(): Expr {
    const start = this.next();
    this.expectOp('(');
    const name = start.text.toLowerCase();
    if (this.op('*')) {
      this.expectOp(')');
      return { kind: 'call', name, args: [], star: true, pos: this.span(start) };
    }
    const distinct = this.word('distinct');
    const args = this.peekOp(')') ? [] : this.exprList();
    this.expectOp(')');
    return { kind: 'call', name, args, distinct: distinct || undefined, pos: this.span(start) };
  }

  private caseExpr(): Expr {
    const start = this.next();
    const operand = this.peekWord() === 'when' ? undefined : this.expr();
    const whens: { when: Expr; then: Expr }[] = [];
    while (this.word('when')) {
      const when = this.expr();
      this.expectWord('then');
      whens.push({ when, then: this.expr() });
    }
    if (whens.length === 0) this.fail('Expected WHEN in CASE');
    const otherwise = this.word('else') ? this.expr() : undefined;
    this.expectWord('end');
    return { kind: 'case', operand, whens, else: otherwise, pos: this.span(start) };
  }

  private object(): Expr {
    const start = this.expectOp('{');
    const entries: ObjectEntry[] = [];
    while (!this.peekOp('}')) {
      if (this.op('...')) entries.push({ spread: this.expr() });
      else {
        const t = this.next();
        if (!(t.kind === 'ident' || t.kind === 'quoted' || t.kind === 'string')) this.fail(`Unexpected ${this.describe(t)}, expected a key`, t);
        if (this.op(':')) entries.push({ key: t.text, value: this.expr() });
        else entries.push({ key: t.text, value: { kind: 'ident', parts: [t.text], pos: this.span(t) } });
      }
      if (!this.op(',')) break;
    }
    this.expectOp('}');
    return { kind: 'object', entries, pos: this.span(start) };
  }

  // ---- tokens ----

  private peek(): Token {
    return this.tokens[this.at];
  }

  private next(): Token {
    const t = this.tokens[this.at];
    if (t.kind !== 'eof') this.at++;
    return t;
  }

  private peekWord(): string | undefined {
    const t = this.peek();
    if (t.kind === 'ident') return t.text.toLowerCase();
    if (t.kind === 'op' && t.text === '(') return '(';
    return undefined;
  }

  private word(w: string): boolean {
    const t = this.peek();
    if (t.kind === 'ident' && t.text.toLowerCase() === w) {
      this.at++;
      return true;
    }
    return false;
  }

  private expectWord(w: string): Token {
    const t = this.peek();
    if (!this.word(w)) this.fail(`Unexpected ${this.describe(t)}, expected ${w.toUpperCase()}`);
    return t;
  }

  private peekOp(op: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === op;
  }

  private op(op: string): boolean {
    if (!this.peekOp(op)) return false;
    this.at++;
    return true;
  }

  private expectOp(op: string): Token {
    const t = this.peek();
    if (!this.op(op)) this.fail(`Unexpected ${this.describe(t)}, expected ${op}`);
    return t;
  }

  private name(what: string): string {
    const t = this.peek();
    if (t.kind === 'quoted' || (t.kind === 'ident' && !RESERVED.has(t.text.toLowerCase()))) {
      this.at++;
      return t.text;
    }
    // Keys and columns may be words SQL reserves elsewhere (`a.end`), once quoted or after a dot.
    if (t.kind === 'ident' && what !== 'a table name' && what !== 'an alias') {
      this.at++;
      return t.text;
    }
    return this.fail(`Unexpected ${this.describe(t)}, expected ${what}`);
  }

  private span(from: Token): Span {
    const last = this.tokens[Math.max(0, this.at - 1)];
    const end = this.at > 0 && last.offset >= from.offset ? last.offset + last.length : from.offset + from.length;
    return { offset: from.offset, length: Math.max(1, end - from.offset) };
  }

  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of input';
    if (t.kind === 'string') return `string '${t.text}'`;
    return `'${this.sql.slice(t.offset, t.offset + t.length)}'`;
  }

  private fail(message: string, at: Token = this.peek()): never {
    throw new SqlSyntaxError(message, at.offset, Math.max(1, at.length));
  }
}
