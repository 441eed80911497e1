import {
  AGGREGATE_FNS,
  FUNCTIONS,
  type AggregateFn,
  type EmitSpec,
  type Expression,
  type GroupKey,
  type JsonObject,
  type JsonValue,
  type ObjectEntry,
  type Operator,
  type PipelinePlan,
  type ScanStatement,
  type ScanStep,
  type SummarizeOp,
  type WindowMeasure,
  type WindowSpec,
} from '../../../core/query/index.js';
import { JetParseError, type SourcePosition } from './errors.js';
import { parseDuration, tokenize, type Token } from './lexer.js';
import type { CreateMode, JetStatement, ListTarget } from './statements.js';

/**
 * The JET parser: hand-written recursive descent over the tokens of lexer.ts, one method per production.
 *
 * Grammar (after JSONJet's packages/core/src/parser/rules/*.js; keywords are case-insensitive and are not
 * reserved, so `count`, `window`, `step`… remain valid names):
 *
 *   program     := statement? (';' statement?)*
 *   statement   := create | delete | insert | flush | list | info | subscribe | unsubscribe | pipeline
 *   create      := 'create' ('or' 'replace' | 'if' 'not' 'exists')?
 *                  ( 'stream' NAME | 'flow' NAME ('ttl' '(' DURATION|STRING ')')? 'as' pipeline | 'lookup' NAME '=' constant )
 *   delete      := ('delete' | 'drop') ('stream' | 'flow' | 'lookup') NAME
 *   insert      := 'insert' 'into' NAME constant                 -- an object or an array of objects
 *   flush       := 'flush' NAME          list := 'list' TARGET?          info := 'info' NAME?
 *   pipeline    := NAME ('|' operator)*
 *   operator    := 'where' expr | 'select' object | 'scan' '(' step (';' step)* ';'? ')'
 *                | 'summarize' object ('by' exprs)? ('over' (NAME '=')? window)? ('by' exprs)? emit?
 *                | 'insert_into' '(' NAME ')'
 *   step        := 'step' NAME ':' expr '=>' stmt (',' stmt)*     stmt := 'emit' '(' expr ')' | NAME ('.' NAME)* '=' expr
 *   emit        := 'emit' ( 'every' NUM ('using' expr)? | 'when' expr | 'on' 'change' expr | 'on' 'group' 'change' | 'on' 'update' )
 *   expr        := or ('?' expr ':' expr)?       or := and (('||' | 'or') and)*     and := not (('&&' | 'and') not)*
 *   not         := 'not' not | compare           compare := add (('=='|'!='|'<'|'>'|'<='|'>=') add)*
 *   add         := mul (('+'|'-') mul)*          mul := unary (('*'|'/'|'%') unary)*
 *   unary       := ('-'|'+'|'!') unary | postfix  postfix := primary ('.' NAME | '[' expr ']')*
 *   primary     := NUMBER | DURATION | STRING | true | false | null | NAME '(' args? ')' | NAME | '(' expr ')' | object | array
 *   object      := '{' (entry (',' entry)* ','?)? '}'   entry := '...' '*' | '...' expr | '-' NAME | key ':' expr | NAME
 */
export interface JetParseOptions {
  /** Largest input, in characters (default 1,000,000). */
  maxLength?: number;
  /** Largest single statement, in characters (default 100,000). */
  maxStatementLength?: number;
  /** Deepest nesting of expressions, objects and arrays (default 64). */
  maxDepth?: number;
  /** Names that are lookups: a bare identifier with such a name reads the lookup, not the record. */
  lookups?: ReadonlySet<string> | ((name: string) => boolean);
}

const BINARY_LIKE = new Set(['==', '!=', '<', '>', '<=', '>=', '+', '*', '/', '%', '&&', '||', ')', ',', ';', '}', ']', ':', '?', '|', '=>', '=', '.']);

type AggregateExpr = Extract<Expression, { kind: 'aggregate' }>;

export class JetParser {
  private tokens: Token[] = [];
  private i = 0;
  private depth = 0;
  /** > 0 while parsing a summarize's aggregates object (aggregate calls allowed); the aggregate being parsed. */
  private aggregateContext = 0;
  private insideAggregate: string | null = null;
  private readonly maxDepth: number;
  private readonly maxLength: number;
  private readonly maxStatementLength: number;
  private readonly isLookup: (name: string) => boolean;

  constructor(
    private readonly text: string,
    options: JetParseOptions = {},
  ) {
    this.maxDepth = options.maxDepth ?? 64;
    this.maxLength = options.maxLength ?? 1_000_000;
    this.maxStatementLength = options.maxStatementLength ?? 100_000;
    const l = options.lookups;
    this.isLookup = !l ? () => false : typeof l === 'function' ? l : (n) => l.has(n);
  }

  // ------------------------------------------------------------------------------------------ tokens

  private get tok(): Token {
    return this.tokens[this.i];
  }
  private peek(k = 1): Token {
    return this.tokens[Math.min(this.i + k, this.tokens.length - 1)];
  }
  private next(): Token {
    const t = this.tokens[this.i];
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private fail(reason: string, at: Token = this.tok): never {
    throw new JetParseError(reason, at.line, at.column, at.position);
  }
  private describe(t: Token): string {
    return t.kind === 'eof' ? 'the end of the input' : t.kind === 'string' ? `string ${t.text}` : `'${t.text}'`;
  }
  private isPunct(p: string, t: Token = this.tok): boolean {
    return t.kind === 'punct' && t.value === p;
  }
  private isKw(word: string, t: Token = this.tok): boolean {
    return t.kind === 'ident' && (t.value as string).toLowerCase() === word;
  }
  private eatPunct(p: string): boolean {
    if (this.isPunct(p)) {
      this.i++;
      return true;
    }
    return false;
  }
  private eatKw(word: string): boolean {
    if (this.isKw(word)) {
      this.i++;
      return true;
    }
    return false;
  }
  private expectPunct(p: string, what?: string): Token {
    if (!this.isPunct(p)) this.fail(`expected '${p}'${what ? ` ${what}` : ''}, found ${this.describe(this.tok)}`);
    return this.next();
  }
  private expectKw(word: string, what?: string): Token {
    if (!this.isKw(word)) this.fail(`expected '${word}'${what ? ` ${what}` : ''}, found ${this.describe(this.tok)}`);
    return this.next();
  }
  private name(what: string): string {
    if (this.tok.kind !== 'ident') this.fail(`expected ${what}, found ${this.describe(this.tok)}`);
    return this.next().value as string;
  }
  private position(t: Token): SourcePosition {
    return { line: t.line, column: t.column, position: t.position };
  }
  private enter(): void {
    if (++this.depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} levels`);
  }
  private leave(): void {
    this.depth--;
  }

  // ------------------------------------------------------------------------------------------ program

  private start(): void {
    if (this.text.length > this.maxLength) {
      throw new JetParseError(`input of ${this.text.length} characters exceeds the limit of ${this.maxLength}`, 1, 1, 0);
    }
    this.tokens = tokenize(this.text);
    this.i = 0;
  }

  /** One expression spanning the whole text. */
  parseExpressionOnly(): Expression {
    this.start();
    const e = this.expr();
    if (this.tok.kind !== 'eof') this.fail(`unexpected ${this.describe(this.tok)} after the expression`);
    return e;
  }

  parseProgram(): JetStatement[] {
    this.start();
    const out: JetStatement[] = [];
    for (;;) {
      while (this.eatPunct(';'));
      if (this.tok.kind === 'eof') break;
      const start = this.tok;
      const stmt = this.statement(start);
      const endPos = this.tokens[this.i - 1].end;
      if (endPos - start.position > this.maxStatementLength) {
        this.fail(`statement of ${endPos - start.position} characters exceeds the limit of ${this.maxStatementLength}`, start);
      }
      out.push(stmt);
      if (this.peek(0).kind !== 'eof' && !this.isPunct(';')) {
        this.fail(`expected ';' or the end of the statement, found ${this.describe(this.tok)}`);
      }
    }
    return out;
  }

  private statement(start: Token): JetStatement {
    const base = () => ({ at: this.position(start), text: this.text.slice(start.position, this.tokens[this.i - 1].end) });
    // A command word followed by '|' is the name of a source stream (`flush | where …` reads stream `flush`).
    const word = start.kind === 'ident' && !this.isPunct('|', this.peek()) ? (start.value as string).toLowerCase() : '';
    switch (word) {
      case 'create':
        return this.createStatement(base);
      case 'delete':
      case 'drop':
        return this.deleteStatement(base);
      case 'insert':
        if (this.isKw('into', this.peek())) return this.insertStatement(base);
        break;
      case 'flush': {
        this.next();
        const stream = this.name('a stream name after flush');
        return { kind: 'flush', stream, ...base() };
      }
      case 'list':
        return this.listStatement(base);
      case 'info': {
        this.next();
        const name = this.tok.kind === 'ident' ? (this.next().value as string) : undefined;
        return { kind: 'info', ...(name !== undefined ? { name } : {}), ...base() };
      }
      case 'subscribe': {
        this.next();
        return { kind: 'subscribe', stream: this.name('a stream name after subscribe'), ...base() };
      }
      case 'unsubscribe': {
        this.next();
        let subscriptionId: number | undefined;
        if (this.tok.kind === 'number') subscriptionId = this.next().value as number;
        return { kind: 'unsubscribe', ...(subscriptionId !== undefined ? { subscriptionId } : {}), ...base() };
      }
    }
    if (start.kind !== 'ident') {
      this.fail(`expected a statement (create, delete, insert, flush, list, info) or a stream name, found ${this.describe(start)}`);
    }
    const pipeline = this.pipeline();
    return { kind: 'query', pipeline, ...base() };
  }

  private createMode(): CreateMode {
    if (this.eatKw('or')) {
      this.expectKw('replace', "after 'create or'");
      return 'or_replace';
    }
    if (this.eatKw('if')) {
      this.expectKw('not', "after 'create if'");
      this.expectKw('exists', "after 'create if not'");
      return 'if_not_exists';
    }
    return 'create';
  }

  private createStatement(base: () => { at: SourcePosition; text: string }): JetStatement {
    this.next(); // create
    const mode = this.createMode();
    if (this.eatKw('stream')) {
      const name = this.name('a stream name');
      return { kind: 'create_stream', name, mode, ...base() };
    }
    if (this.eatKw('flow')) {
      const name = this.name('a flow name');
      let ttlMs: number | undefined;
      if (this.isKw('ttl')) {
        this.next();
        this.expectPunct('(', "after 'ttl'");
        const t = this.next();
        if (t.kind === 'duration') ttlMs = t.value as number;
        else if (t.kind === 'string' && parseDuration(t.value as string) !== null) ttlMs = parseDuration(t.value as string) as number;
        else this.fail('ttl needs a duration such as 1h, 30m or "1h"', t);
        if (!((ttlMs as number) > 0)) this.fail('ttl must be longer than zero', t);
        this.expectPunct(')', 'after the ttl');
      }
      this.expectKw('as', `before the flow's query`);
      const qStart = this.tok;
      const pipeline = this.pipeline();
      const query = this.text.slice(qStart.position, this.tokens[this.i - 1].end);
      return { kind: 'create_flow', name, mode, ...(ttlMs !== undefined ? { ttlMs } : {}), pipeline, query, ...base() };
    }
    if (this.eatKw('lookup')) {
      const name = this.name('a lookup name');
      this.expectPunct('=', 'after the lookup name');
      const value = this.constant();
      return { kind: 'create_lookup', name, mode, value, ...base() };
    }
    this.fail(`expected stream, flow or lookup after 'create', found ${this.describe(this.tok)}`);
  }

  private deleteStatement(base: () => { at: SourcePosition; text: string }): JetStatement {
    const verb = this.next().text;
    const what = this.tok;
    if (this.eatKw('stream')) return { kind: 'delete_stream', name: this.name('a stream name'), ...base() };
    if (this.eatKw('flow')) return { kind: 'delete_flow', name: this.name('a flow name'), ...base() };
    if (this.eatKw('lookup')) return { kind: 'delete_lookup', name: this.name('a lookup name'), ...base() };
    this.fail(`expected stream, flow or lookup after '${verb}', found ${this.describe(what)}`);
  }

  private insertStatement(base: () => { at: SourcePosition; text: string }): JetStatement {
    this.next(); // insert
    this.next(); // into
    const stream = this.name('a stream name after insert into');
    const at = this.tok;
    const value = this.constant();
    const records = Array.isArray(value) ? value : [value];
    records.forEach((r, n) => {
      if (r === null || typeof r !== 'object' || Array.isArray(r)) {
        this.fail(Array.isArray(value) ? `record ${n + 1} of the array is not an object` : 'insert into needs an object or an array of objects', at);
      }
    });
    return { kind: 'insert', stream, records: records as JsonObject[], ...base() };
  }

  private listStatement(base: () => { at: SourcePosition; text: string }): JetStatement {
    this.next();
    let target: ListTarget = 'streams';
    if (this.tok.kind === 'ident') {
      const t = this.next();
      const map: Record<string, ListTarget> = {
        stream: 'streams', streams: 'streams', flow: 'flows', flows: 'flows', lookup: 'lookups', lookups: 'lookups',
        subscription: 'subscriptions', subscriptions: 'subscriptions',
      };
      const found = map[(t.value as string).toLowerCase()];
      if (!found) this.fail(`cannot list '${t.text}': expected streams, flows, lookups or subscriptions`, t);
      target = found;
    }
    return { kind: 'list', target, ...base() };
  }

  // ------------------------------------------------------------------------------------------ constants (JSON-ish)

  /** A JSON value with JavaScript-ish liberties: unquoted keys, single quotes, trailing commas, comments. */
  private constant(): JsonValue {
    const t = this.tok;
    this.enter();
    try {
      if (this.isPunct('{')) {
        this.next();
        const out: JsonObject = {};
        while (!this.isPunct('}')) {
          const k = this.tok;
          let key: string;
          if (k.kind === 'ident' || k.kind === 'string') key = String(this.next().value);
          else if (k.kind === 'number') key = this.next().text;
          else this.fail(`expected a key, found ${this.describe(k)}`);
          this.expectPunct(':', 'after the key');
          const v = this.constant();
          if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
          else out[key] = v;
          if (!this.eatPunct(',')) break;
        }
        this.expectPunct('}', 'to close the object');
        return out;
      }
      if (this.isPunct('[')) {
        this.next();
        const out: JsonValue[] = [];
        while (!this.isPunct(']')) {
          out.push(this.constant());
          if (!this.eatPunct(',')) break;
        }
        this.expectPunct(']', 'to close the array');
        return out;
      }
      if (this.isPunct('-') || this.isPunct('+')) {
        const sign = this.next().value === '-' ? -1 : 1;
        const n = this.tok;
        if (n.kind !== 'number' && n.kind !== 'duration') this.fail(`expected a number after '${sign < 0 ? '-' : '+'}'`, n);
        this.next();
        return sign * (n.value as number);
      }
      if (t.kind === 'number' || t.kind === 'duration' || t.kind === 'string') return this.next().value;
      if (this.isKw('true')) return this.next() && true;
      if (this.isKw('false')) return !this.next();
      if (this.isKw('null')) return this.next() && null;
      this.fail(`expected a constant value (object, array, string, number, true, false or null), found ${this.describe(t)}`);
    } finally {
      this.leave();
    }
  }

  // ------------------------------------------------------------------------------------------ pipelines

  private pipeline(): PipelinePlan {
    const source = this.name('a source stream name');
    const operators: Operator[] = [];
    while (this.eatPunct('|')) operators.push(this.operator());
    return { source, operators };
  }

  private operator(): Operator {
    const t = this.tok;
    const word = t.kind === 'ident' ? (t.value as string).toLowerCase() : '';
    switch (word) {
      case 'where':
        this.next();
        return { op: 'where', condition: this.expr() };
      case 'select': {
        this.next();
        if (!this.isPunct('{')) this.fail(`select needs an object such as { a, b: x + 1, ...* }, found ${this.describe(this.tok)}`);
        return { op: 'select', projection: this.object() };
      }
      case 'scan':
        return this.scan();
      case 'summarize':
        return this.summarize();
      case 'insert_into': {
        this.next();
        this.expectPunct('(', "after 'insert_into'");
        const stream = this.name('a stream name');
        this.expectPunct(')', 'after the stream name');
        return { op: 'insert_into', stream };
      }
      case 'write_to_file':
        this.fail('write_to_file is not supported: no operator writes server files (use insert_into and subscribe)', t);
        break;
      case 'assert_or_save_expected':
        this.fail('assert_or_save_expected is a test-runner operator and is not supported', t);
    }
    this.fail(`expected an operator (where, select, scan, summarize, insert_into) after '|', found ${this.describe(t)}`, t);
  }

  private scan(): Operator {
    this.next();
    this.expectPunct('(', "after 'scan'");
    const steps: ScanStep[] = [];
    const seen = new Set<string>();
    do {
      if (this.isPunct(')')) break;
      steps.push(this.step(seen));
    } while (this.eatPunct(';'));
    if (steps.length === 0) this.fail('scan needs at least one step');
    this.expectPunct(')', "to close scan (steps are separated by ';')");
    return { op: 'scan', steps };
  }

  private step(seen: Set<string>): ScanStep {
    this.expectKw('step', 'to begin a scan step');
    const nameTok = this.tok;
    const name = this.name('a step name');
    if (seen.has(name)) this.fail(`step '${name}' is defined twice`, nameTok);
    seen.add(name);
    this.expectPunct(':', 'after the step name');
    const condition = this.expr();
    this.expectPunct('=>', 'after the step condition');
    const statements: ScanStatement[] = [];
    do statements.push(this.scanStatement());
    while (this.eatPunct(','));
    return { name, condition, statements };
  }

  private scanStatement(): ScanStatement {
    const t = this.tok;
    if (this.isKw('emit') && this.isPunct('(', this.peek())) {
      this.next();
      this.next();
      const value = this.expr();
      this.expectPunct(')', 'to close emit(');
      return { kind: 'emit', value };
    }
    if (t.kind !== 'ident') this.fail(`expected an assignment (name = value) or emit(...), found ${this.describe(t)}`);
    const target = [this.next().value as string];
    while (this.eatPunct('.')) target.push(this.name('a name after the dot'));
    if (!this.isPunct('=')) this.fail(`expected '=' in the assignment to ${target.join('.')}, found ${this.describe(this.tok)}`);
    this.next();
    return { kind: 'assign', target, value: this.expr() };
  }

  private summarize(): Operator {
    this.next();
    if (!this.isPunct('{')) this.fail(`summarize needs an object such as { n: count() }, found ${this.describe(this.tok)}`);
    this.aggregateContext++;
    let aggregates: Expression;
    try {
      aggregates = this.object();
    } finally {
      this.aggregateContext--;
    }
    let by: GroupKey[] | undefined;
    let window: WindowSpec | undefined;
    let windowVar: string | undefined;
    let emit: EmitSpec | undefined;
    for (;;) {
      if (!by && this.isKw('by')) {
        this.next();
        by = [];
        do {
          const e = this.expr();
          by.push(e.kind === 'field' ? { expr: e, name: e.path[e.path.length - 1] } : { expr: e });
        } while (this.eatPunct(','));
      } else if (!window && this.isKw('over')) {
        const overTok = this.next();
        if (emit) this.fail('a summarize has either a window (over …) or an emit clause, not both', overTok);
        if (this.tok.kind === 'ident' && this.isPunct('=', this.peek())) {
          windowVar = this.next().value as string;
          this.next();
        }
        window = this.windowCall();
        windowVar ??= 'window';
      } else if (!emit && this.isKw('emit')) {
        const emitTok = this.tok;
        if (window) this.fail('a summarize over a window emits when the window closes: remove the emit clause or the window', emitTok);
        emit = this.emitClause();
      } else break;
    }
    const op: SummarizeOp = { op: 'summarize', aggregates, by: by ?? [], emit: emit ?? (window ? { kind: 'close' } : { kind: 'flush' }) };
    if (window) {
      op.window = window;
      op.windowVar = windowVar;
      const rename = (e: Expression) => bindVar(e, windowVar as string);
      op.aggregates = rename(op.aggregates);
      op.by = op.by.map((k) => (k.expr.kind === 'field' && k.expr.path[0] === windowVar ? { expr: rename(k.expr) } : { ...k, expr: rename(k.expr) }));
    }
    return op;
  }

  /** A window size: a number, or a duration (then the window runs on time, in ms). */
  private windowNumber(what: string): { value: number; duration: boolean } {
    const t = this.tok;
    if (t.kind === 'number' || t.kind === 'duration') {
      this.next();
      if (!((t.value as number) > 0)) this.fail(`${what} must be greater than zero`, t);
      return { value: t.value as number, duration: t.kind === 'duration' };
    }
    this.fail(`${what} must be a number or a duration such as 5m, found ${this.describe(t)}`, t);
  }

  private windowCall(): WindowSpec {
    const t = this.tok;
    const fn = t.kind === 'ident' ? (t.value as string).toLowerCase() : '';
    const known = ['tumbling_window', 'tumbling_window_by', 'hopping_window', 'hopping_window_by', 'sliding_window', 'sliding_window_by', 'count_window', 'session_window'];
    if (!known.includes(fn)) this.fail(`expected a window (${known.join(', ')}), found ${this.describe(t)}`, t);
    this.next();
    this.expectPunct('(', `after '${fn}'`);
    const byValue = fn.endsWith('_by');
    const measureOf = (size: { duration: boolean }, value: Expression | undefined): WindowMeasure =>
      value ? { by: 'value', value } : size.duration ? { by: 'arrival' } : { by: 'count' };
    const valueArg = (required: boolean): Expression | undefined => {
      if (required) {
        this.expectPunct(',', `before the value ${fn} windows by`);
        return this.expr();
      }
      return this.eatPunct(',') ? this.expr() : undefined;
    };
    let spec: WindowSpec;
    if (fn === 'count_window') {
      const size = this.windowNumber('the count');
      if (size.duration) this.fail('count_window counts records: give a number', t);
      spec = { type: 'count', size: size.value };
    } else if (fn === 'session_window') {
      const timeout = this.windowNumber('the session timeout');
      const value = valueArg(false);
      spec = { type: 'session', timeout: timeout.value, measure: value ? { by: 'value', value } : { by: 'arrival' } };
    } else if (fn.startsWith('hopping')) {
      const size = this.windowNumber('the window size');
      this.expectPunct(',', 'before the hop');
      const hop = this.windowNumber('the hop');
      spec = { type: 'hopping', size: size.value, hop: hop.value, measure: measureOf(size, valueArg(byValue)) };
    } else {
      const size = this.windowNumber('the window size');
      const type = fn.startsWith('tumbling') ? 'tumbling' : 'sliding';
      spec = { type, size: size.value, measure: measureOf(size, valueArg(byValue)) };
    }
    this.expectPunct(')', `to close ${fn}(`);
    return spec;
  }

  private emitClause(): EmitSpec {
    this.expectKw('emit');
    const t = this.tok;
    if (this.eatKw('every')) {
      const n = this.windowNumber('the emit interval');
      if (this.eatKw('using')) return { kind: 'every', interval: n.value, using: this.expr() };
      return n.duration ? { kind: 'every', interval: n.value, using: 'arrival' } : { kind: 'every', interval: n.value };
    }
    if (this.eatKw('when')) return { kind: 'when', condition: this.expr() };
    if (this.eatKw('on')) {
      if (this.eatKw('change')) return { kind: 'change', value: this.expr() };
      if (this.eatKw('group')) {
        this.expectKw('change', "after 'emit on group'");
        return { kind: 'groupChange' };
      }
      if (this.eatKw('update')) return { kind: 'update' };
      this.fail(`expected change, group change or update after 'emit on', found ${this.describe(this.tok)}`);
    }
    this.fail(`expected every, when or on after 'emit', found ${this.describe(t)}`, t);
  }

  // ------------------------------------------------------------------------------------------ expressions

  expr(): Expression {
    this.enter();
    try {
      const test = this.or();
      if (!this.eatPunct('?')) return test;
      const then = this.expr();
      this.expectPunct(':', "in the conditional 'a ? b : c'");
      const otherwise = this.expr();
      return { kind: 'conditional', test, then, else: otherwise };
    } finally {
      this.leave();
    }
  }

  private or(): Expression {
    let left = this.and();
    while (this.isPunct('||') || this.isKw('or')) {
      this.next();
      left = { kind: 'binary', op: '||', left, right: this.and() };
    }
    return left;
  }

  private and(): Expression {
    let left = this.not();
    while (this.isPunct('&&') || this.isKw('and')) {
      this.next();
      left = { kind: 'binary', op: '&&', left, right: this.not() };
    }
    return left;
  }

  private not(): Expression {
    const nextTok = this.peek();
    if (this.isKw('not') && nextTok.kind !== 'eof' && !(nextTok.kind === 'punct' && BINARY_LIKE.has(nextTok.value as string))) {
      this.next();
      this.enter();
      try {
        return { kind: 'unary', op: 'not', operand: this.not() };
      } finally {
        this.leave();
      }
    }
    return this.compare();
  }

  private compare(): Expression {
    let left = this.additive();
    for (;;) {
      const t = this.tok;
      if (t.kind === 'punct' && (t.value === '==' || t.value === '!=' || t.value === '<' || t.value === '>' || t.value === '<=' || t.value === '>=')) {
        this.next();
        left = { kind: 'binary', op: t.value, left, right: this.additive() };
      } else if (this.isPunct('=') && !this.isPunct('>', this.peek())) {
        this.fail("'=' is an assignment; compare with '=='");
      } else return left;
    }
  }

  private additive(): Expression {
    let left = this.multiplicative();
    while (this.isPunct('+') || this.isPunct('-')) {
      const op = this.next().value as '+' | '-';
      left = { kind: 'binary', op, left, right: this.multiplicative() };
    }
    return left;
  }

  private multiplicative(): Expression {
    let left = this.unary();
    while (this.isPunct('*') || this.isPunct('/') || this.isPunct('%')) {
      const op = this.next().value as '*' | '/' | '%';
      left = { kind: 'binary', op, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Expression {
    if (this.isPunct('-') || this.isPunct('+') || this.isPunct('!')) {
      const t = this.next();
      this.enter();
      try {
        const operand = this.unary();
        if (t.value === '-' && operand.kind === 'literal' && typeof operand.value === 'number') return { kind: 'literal', value: -operand.value };
        return { kind: 'unary', op: t.value === '-' ? 'neg' : t.value === '+' ? 'plus' : 'not', operand };
      } finally {
        this.leave();
      }
    }
    return this.postfix();
  }

  private postfix(): Expression {
    let e = this.primary();
    for (;;) {
      if (this.isPunct('.')) {
        this.next();
        const key = this.name('a field name after the dot');
        e = e.kind === 'field' ? { kind: 'field', path: [...e.path, key] } : { kind: 'get', object: e, key };
      } else if (this.isPunct('[')) {
        this.next();
        const index = this.expr();
        this.expectPunct(']', 'to close the index');
        e = { kind: 'index', object: e, index };
      } else return e;
    }
  }

  private primary(): Expression {
    const t = this.tok;
    switch (t.kind) {
      case 'number':
      case 'duration':
      case 'string':
        this.next();
        return { kind: 'literal', value: t.value };
      case 'ident': {
        const word = (t.value as string).toLowerCase();
        if (this.isPunct('(', this.peek())) return this.call();
        if (word === 'true' || word === 'false') {
          this.next();
          return { kind: 'literal', value: word === 'true' };
        }
        if (word === 'null') {
          this.next();
          return { kind: 'literal', value: null };
        }
        this.next();
        const name = t.value as string;
        return this.isLookup(name) ? { kind: 'lookup', name } : { kind: 'field', path: [name] };
      }
      case 'punct':
        if (t.value === '(') {
          this.next();
          const e = this.expr();
          this.expectPunct(')', 'to close the parenthesis');
          return e;
        }
        if (t.value === '{') return this.object();
        if (t.value === '[') return this.array();
    }
    this.fail(`expected a value, found ${this.describe(t)}`);
  }

  private args(): Expression[] {
    this.expectPunct('(');
    const args: Expression[] = [];
    if (!this.isPunct(')')) {
      do args.push(this.expr());
      while (this.eatPunct(','));
    }
    this.expectPunct(')', 'to close the argument list');
    return args;
  }

  private call(): Expression {
    const t = this.next();
    const name = (t.value as string).toLowerCase();
    if (name === 'emit') this.fail('emit(...) is only valid as a statement of a scan step', t);
    const isAggregate =
      this.aggregateContext > 0 && (AGGREGATE_FNS as readonly string[]).includes(name);
    if (isAggregate && this.insideAggregate !== null) {
      this.fail(`aggregate ${name}() cannot be nested in ${this.insideAggregate}()`, t);
    }
    const outer = this.insideAggregate;
    if (isAggregate) this.insideAggregate = name;
    let args: Expression[];
    try {
      args = this.args();
    } finally {
      this.insideAggregate = outer;
    }
    // min/max with one argument aggregate (inside summarize); with several they are the scalar functions.
    if (isAggregate && !((name === 'min' || name === 'max') && args.length !== 1)) {
      const want = name === 'count' ? [0, 1] : [1, 1];
      if (args.length < want[0] || args.length > want[1]) {
        this.fail(`${name}() takes ${want[0] === want[1] ? want[0] : `${want[0]} or ${want[1]}`} argument(s), got ${args.length}`, t);
      }
      return { kind: 'aggregate', fn: name as AggregateFn, args } satisfies AggregateExpr;
    }
    const f = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
    if (!f) {
      const hint = (AGGREGATE_FNS as readonly string[]).includes(name) ? ' (aggregates are only allowed in summarize)' : '';
      this.fail(`unknown function ${t.text}()${hint}`, t);
    }
    if (args.length < f.minArgs || args.length > f.maxArgs) {
      const want = f.minArgs === f.maxArgs ? `${f.minArgs}` : f.maxArgs === Infinity ? `at least ${f.minArgs}` : `${f.minArgs} to ${f.maxArgs}`;
      this.fail(`${name}() takes ${want} argument(s), got ${args.length}`, t);
    }
    return { kind: 'call', name, args };
  }

  private object(): Expression {
    this.expectPunct('{');
    const entries: ObjectEntry[] = [];
    while (!this.isPunct('}')) {
      entries.push(this.objectEntry());
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct('}', "to close the object (entries are separated by ',')");
    return { kind: 'object', entries };
  }

  private objectEntry(): ObjectEntry {
    const t = this.tok;
    if (this.eatPunct('...')) {
      if (this.eatPunct('*')) return { kind: 'spreadRecord' };
      return { kind: 'spread', value: this.expr() };
    }
    if (this.eatPunct('-')) {
      const k = this.tok;
      if (k.kind !== 'ident' && k.kind !== 'string') this.fail(`expected a field name to exclude after '-', found ${this.describe(k)}`);
      return { kind: 'exclude', key: String(this.next().value) };
    }
    if (t.kind === 'ident' || t.kind === 'string' || t.kind === 'number') {
      if (this.isPunct(':', this.peek())) {
        this.next();
        this.next();
        return { kind: 'property', key: t.kind === 'number' ? t.text : String(t.value), value: this.expr() };
      }
      if (t.kind === 'ident') {
        // Shorthand `{ a }` is `{ a: a }`; `{ count() }` names the value after the function.
        const value = this.expr();
        if (value.kind === 'field') return { kind: 'property', key: value.path[value.path.length - 1], value };
        if (value.kind === 'lookup') return { kind: 'property', key: value.name, value };
        if (value.kind === 'aggregate') return { kind: 'property', key: value.fn, value };
        if (value.kind === 'call') return { kind: 'property', key: value.name, value };
        this.fail(`expected 'key: value' in the object`, t);
      }
    }
    this.fail(`expected a property (key: value, name, ...*, ...expr or -name), found ${this.describe(t)}`, t);
  }

  private array(): Expression {
    this.expectPunct('[');
    const items: Expression[] = [];
    while (!this.isPunct(']')) {
      items.push(this.expr());
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct(']', "to close the array (items are separated by ',')");
    return { kind: 'array', items };
  }
}

/** Rewrites fields rooted at the window variable (`w`, `w.start`) into variable reads. */
function bindVar(e: Expression, name: string): Expression {
  const r = (x: Expression) => bindVar(x, name);
  switch (e.kind) {
    case 'field': {
      if (e.path[0] !== name) return e;
      let out: Expression = { kind: 'var', name };
      for (const key of e.path.slice(1)) out = { kind: 'get', object: out, key };
      return out;
    }
    case 'get':
      return { ...e, object: r(e.object) };
    case 'index':
      return { ...e, object: r(e.object), index: r(e.index) };
    case 'binary':
      return { ...e, left: r(e.left), right: r(e.right) };
    case 'unary':
      return { ...e, operand: r(e.operand) };
    case 'conditional':
      return { ...e, test: r(e.test), then: r(e.then), else: r(e.else) };
    case 'call':
    case 'aggregate':
      return { ...e, args: e.args.map(r) };
    case 'object':
      return {
        kind: 'object',
        entries: e.entries.map((en) => (en.kind === 'property' || en.kind === 'spread' ? { ...en, value: r(en.value) } : en)),
      };
    case 'array':
      return { kind: 'array', items: e.items.map(r) };
    default:
      return e;
  }
}

/** Parses JET text into its statements, in order. Throws JetParseError naming the line and column. */
export function parseJet(text: string, options?: JetParseOptions): JetStatement[] {
  return new JetParser(text, options).parseProgram();
}

/** Parses one expression (for tests and for dialects that embed JET expressions). */
export function parseJetExpression(text: string, options?: JetParseOptions): Expression {
  return new JetParser(text, options).parseExpressionOnly();
}
