import { JetParseError } from './errors.js';

/**
 * The JET lexer, written by hand after JSONJet's token set (packages/core/src/parser/tokens/*.js): identifiers
 * `[A-Za-z_][A-Za-z0-9_]*` (keywords are identifiers the parser recognises case-insensitively, so they stay usable
 * as names), numbers, durations (`5m`, `1h30m`, `250ms`), strings in single or double quotes with JSON escapes,
 * `//` line comments, and the punctuation of the grammar.
 */
export type TokenKind = 'ident' | 'number' | 'duration' | 'string' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** The source text of the token. */
  text: string;
  /** number/duration: the value (durations in milliseconds); string: the decoded text; else the text. */
  value: string | number;
  position: number;
  end: number;
  line: number;
  column: number;
}

const PUNCTS = [
  '...', '=>', '==', '!=', '<=', '>=', '&&', '||',
  '(', ')', '{', '}', '[', ']', ',', ';', ':', '.', '|', '<', '>', '=', '+', '-', '*', '/', '%', '?', '!',
];

/** Milliseconds per duration unit (JSONJet's DurationParser units; it counts seconds, JET here counts ms). */
export const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000,
};

const isDigit = (c: string) => c >= '0' && c <= '9';
const isIdentStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isIdentPart = (c: string) => isIdentStart(c) || isDigit(c);

/** Parses a duration such as `90s`, `1h30m` or `250ms` into milliseconds; null when it is not one. */
export function parseDuration(text: string): number | null {
  let i = 0;
  let total = 0;
  const seen = new Set<string>();
  if (text.length === 0) return null;
  while (i < text.length) {
    const numStart = i;
    while (i < text.length && isDigit(text[i])) i++;
    if (text[i] === '.' && isDigit(text[i + 1] ?? '')) {
      i++;
      while (i < text.length && isDigit(text[i])) i++;
    }
    if (i === numStart) return null;
    const unitStart = i;
    while (i < text.length && /[a-zA-Z]/.test(text[i])) i++;
    const unit = text.slice(unitStart, i).toLowerCase();
    const factor = DURATION_UNITS[unit];
    if (factor === undefined || seen.has(unit)) return null;
    seen.add(unit);
    total += Number(text.slice(numStart, unitStart)) * factor;
  }
  return total;
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (reason: string, at: number): never => {
    // Count the line of `at` (it may lie on the current line or be the start of a multi-line string).
    let l = 1;
    let ls = 0;
    for (let k = 0; k < at; k++) {
      if (text.charCodeAt(k) === 10) {
        l++;
        ls = k + 1;
      }
    }
    throw new JetParseError(reason, l, at - ls + 1, at);
  };
  const push = (kind: TokenKind, start: number, value: string | number, startLine: number, startCol: number) => {
    tokens.push({ kind, text: text.slice(start, i), value, position: start, end: i, line: startLine, column: startCol });
  };

  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\u00a0' || c === '\ufeff') {
      i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const start = i;
    const col = i - lineStart + 1;
    const startLine = line;
    if (isIdentStart(c)) {
      while (i < text.length && isIdentPart(text[i])) i++;
      push('ident', start, text.slice(start, i), startLine, col);
      continue;
    }
    if (isDigit(c)) {
      while (i < text.length && isDigit(text[i])) i++;
      if (text[i] === '.' && isDigit(text[i + 1] ?? '')) {
        i++;
        while (i < text.length && isDigit(text[i])) i++;
      }
      if ((text[i] === 'e' || text[i] === 'E') && (isDigit(text[i + 1] ?? '') || ((text[i + 1] === '+' || text[i + 1] === '-') && isDigit(text[i + 2] ?? '')))) {
        i += 2;
        while (i < text.length && isDigit(text[i])) i++;
        if (!isIdentPart(text[i] ?? '')) {
          push('number', start, Number(text.slice(start, i)), startLine, col);
          continue;
        }
      }
      if (i < text.length && isIdentStart(text[i])) {
        // A duration: digits and units, e.g. 5m, 1h30m, 250ms.
        while (i < text.length && (isIdentPart(text[i]) || (text[i] === '.' && isDigit(text[i + 1] ?? '')))) i++;
        const ms = parseDuration(text.slice(start, i));
        if (ms === null) fail(`invalid number or duration '${text.slice(start, i)}' (durations use ns, us, ms, s, m, h, d, w)`, start);
        push('duration', start, ms as number, startLine, col);
        continue;
      }
      push('number', start, Number(text.slice(start, i)), startLine, col);
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      let out = '';
      for (;;) {
        if (i >= text.length) fail('unterminated string', start);
        const ch = text[i];
        if (ch === c) {
          i++;
          break;
        }
        if (ch === '\n') {
          line++;
          lineStart = i + 1;
        }
        if (ch === '\\') {
          const e = text[i + 1];
          const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0', '\\': '\\', '/': '/', '"': '"', "'": "'" };
          if (e !== undefined && simple[e] !== undefined) {
            out += simple[e];
            i += 2;
            continue;
          }
          if (e === 'u') {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape in string', i);
            out += String.fromCharCode(parseInt(hex, 16));
            i += 6;
            continue;
          }
          fail(`invalid escape '\\${e ?? ''}' in string`, i);
        }
        out += ch;
        i++;
      }
      push('string', start, out, startLine, col);
      continue;
    }
    const p = PUNCTS.find((x) => text.startsWith(x, i));
    if (p === undefined) fail(`unexpected character '${c}'`, i);
    i += (p as string).length;
    push('punct', start, p as string, startLine, col);
  }
  tokens.push({ kind: 'eof', text: '', value: '', position: i, end: i, line, column: i - lineStart + 1 });
  return tokens;
}
