import { JetParseError } from './errors.js';
import { parseDuration, tokenize } from './lexer.js';

const kinds = (text: string) => tokenize(text).map((t) => [t.kind, t.value]);

describe('JET lexer', () => {
  it('identifiers, numbers, strings and punctuation, longest punctuation first', () => {
    expect(kinds('a_1 12 3.5 2e3 "x" ... => == != <= >= && || | ! =')).toEqual([
      ['ident', 'a_1'], ['number', 12], ['number', 3.5], ['number', 2000], ['string', 'x'],
      ['punct', '...'], ['punct', '=>'], ['punct', '=='], ['punct', '!='], ['punct', '<='], ['punct', '>='],
      ['punct', '&&'], ['punct', '||'], ['punct', '|'], ['punct', '!'], ['punct', '='], ['eof', ''],
    ]);
  });

  it('durations in milliseconds, compound too', () => {
    expect(kinds('5m 250ms 1h30m 2s')).toEqual([
      ['duration', 300_000], ['duration', 250], ['duration', 5_400_000], ['duration', 2000], ['eof', ''],
    ]);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1x')).toBeNull();
    expect(parseDuration('1m1m')).toBeNull();
  });

  it('strings in both quotes with JSON escapes', () => {
    expect(tokenize(String.raw`'it\'s' "a\"b\n\u0041"`).slice(0, 2).map((t) => t.value)).toEqual(["it's", 'a"b\nA']);
  });

  it('skips // comments and whitespace, and counts lines and columns from 1', () => {
    const t = tokenize('// header\n  create  // note\n\tstream x');
    expect(t.map((x) => [x.text, x.line, x.column, x.position])).toEqual([
      ['create', 2, 3, 12], ['stream', 3, 2, 29], ['x', 3, 9, 36], ['', 3, 10, 37],
    ]);
  });

  it('reports bad input with line and column', () => {
    const at = (text: string) => {
      try {
        tokenize(text);
      } catch (e) {
        const err = e as JetParseError;
        return [err.reason, err.line, err.column, err.position];
      }
      return null;
    };
    expect(at('a\n  "open')).toEqual(['unterminated string', 2, 3, 4]);
    expect(at('x # y')).toEqual(["unexpected character '#'", 1, 3, 2]);
    expect(at('5parsecs')).toEqual([expect.stringMatching(/invalid number or duration/), 1, 1, 0]);
    expect(at('"\\q"')).toEqual([expect.stringMatching(/invalid escape/), 1, 2, 1]);
    expect(() => tokenize('@')).toThrow(/line 1, column 1/);
  });
});
