/** The tokens of Endb's SQL: hand-written, each with its offset in the statement's text. */
export type TokenKind = 'ident' | 'quoted' | 'number' | 'string' | 'datetime' | 'date' | 'time' | 'duration' | 'param' | 'named' | 'op' | 'eof';

export type Token = Readonly<{ kind: TokenKind; text: string; offset: number; length: number }>;

/** A statement that does not lex or parse: `offset` is where the problem starts. */
export class SqlSyntaxError extends Error {
  override readonly name = 'SqlSyntaxError';
  constructor(
    message: string,
    readonly offset: number,
    readonly length = 1,
  ) {
    super(message);
  }
}

const OPERATORS = ['...', '<>', '!=', '<=', '>=', '||', '==', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', '[', ']', '{', '}', ',', '.', ';', ':'];
const DATETIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?/;
const TIME = /^\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?/;
const DURATION = /^P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$/;
const NUMBER = /^(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*/;
const NAMED = /^:[A-Za-z_][A-Za-z0-9_]*/;

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const push = (kind: TokenKind, text: string, length: number) => {
    tokens.push({ kind, text, offset: at, length });
    at += length;
  };
  while (at < sql.length) {
    const c = sql[at];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      at++;
      continue;
    }
    if (c === '-' && sql[at + 1] === '-') {
      while (at < sql.length && sql[at] !== '\n') at++;
      continue;
    }
    if (c === '/' && sql[at + 1] === '*') {
      const end = sql.indexOf('*/', at + 2);
      if (end < 0) throw new SqlSyntaxError('Unterminated comment', at, 2);
      at = end + 2;
      continue;
    }
    const rest = sql.slice(at, at + 64);
    if (c === "'" || c === '"' || c === '`') {
      let i = at + 1;
      let text = '';
      for (;;) {
        if (i >= sql.length) throw new SqlSyntaxError(c === "'" ? 'Unterminated string' : 'Unterminated quoted identifier', at, 1);
        if (sql[i] === c) {
          if (sql[i + 1] === c) {
            text += c;
            i += 2;
            continue;
          }
          break;
        }
        if (c === "'" && sql[i] === '\\' && i + 1 < sql.length) {
          const e = sql[i + 1];
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
          i += 2;
          continue;
        }
        text += sql[i++];
      }
      tokens.push({ kind: c === "'" ? 'string' : 'quoted', text, offset: at, length: i + 1 - at });
      at = i + 1;
      continue;
    }
    if (c >= '0' && c <= '9') {
      const dt = DATETIME.exec(rest);
      if (dt) {
        push(dt[0].length > 10 ? 'datetime' : 'date', dt[0], dt[0].length);
        continue;
      }
      const time = TIME.exec(rest);
      if (time) {
        push('time', time[0], time[0].length);
        continue;
      }
    }
    if ((c >= '0' && c <= '9') || (c === '.' && sql[at + 1] >= '0' && sql[at + 1] <= '9')) {
      const m = NUMBER.exec(sql.slice(at, at + 400))!;
      if (IDENT.test(sql[at + m[0].length] ?? '')) throw new SqlSyntaxError(`Unexpected character after number: ${sql[at + m[0].length]}`, at + m[0].length);
      push('number', m[0], m[0].length);
      continue;
    }
    if (c === '?') {
      push('param', '?', 1);
      continue;
    }
    if (c === ':' && NAMED.test(rest)) {
      const m = NAMED.exec(rest)!;
      push('named', m[0].slice(1), m[0].length);
      continue;
    }
    const ident = IDENT.exec(sql.slice(at, at + 1024));
    if (ident) {
      push(DURATION.test(ident[0]) ? 'duration' : 'ident', ident[0], ident[0].length);
      continue;
    }
    const op = OPERATORS.find((o) => sql.startsWith(o, at));
    if (op) {
      push('op', op === '!=' ? '<>' : op === '==' ? '=' : op, op.length);
      continue;
    }
    throw new SqlSyntaxError(`Unexpected character: ${c}`, at);
  }
  tokens.push({ kind: 'eof', text: '', offset: sql.length, length: 0 });
  return tokens;
}
