/**
 * JSON text as the database returns it, read without losing integers beyond 2^53: they become the typed
 * scalar `{"@type": "xsd:integer", "@value": "…"}`, as documents and JSON-LD carry them. The common case (no
 * long digit run) is plain JSON.parse.
 */
export function parseJsonText(text: string | null): unknown {
  if (text === null) return null;
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  return new Reader(text).read();
}

class Reader {
  private at = 0;
  constructor(private readonly s: string) {}

  read(): unknown {
    const value = this.value();
    this.ws();
    if (this.at !== this.s.length) throw new SyntaxError('trailing characters in JSON');
    return value;
  }

  private ws(): void {
    while (this.at < this.s.length && ' \t\n\r'.includes(this.s[this.at])) this.at++;
  }

  private value(): unknown {
    this.ws();
    const c = this.s[this.at];
    if (c === '{') {
      this.at++;
      const out: Record<string, unknown> = {};
      this.ws();
      if (this.s[this.at] === '}') {
        this.at++;
        return out;
      }
      for (;;) {
        this.ws();
        const key = this.string();
        this.ws();
        this.at++; // :
        out[key] = this.value();
        this.ws();
        if (this.s[this.at++] === '}') return out;
      }
    }
    if (c === '[') {
      this.at++;
      const out: unknown[] = [];
      this.ws();
      if (this.s[this.at] === ']') {
        this.at++;
        return out;
      }
      for (;;) {
        out.push(this.value());
        this.ws();
        if (this.s[this.at++] === ']') return out;
      }
    }
    if (c === '"') return this.string();
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?|^true|^false|^null/.exec(this.s.slice(this.at, this.at + 400));
    if (!m) throw new SyntaxError(`unexpected JSON at ${this.at}`);
    this.at += m[0].length;
    const t = m[0];
    if (t === 'true') return true;
    if (t === 'false') return false;
    if (t === 'null') return null;
    if (!m[1] && !m[2]) {
      const n = Number(t);
      return Number.isSafeInteger(n) ? n : { '@type': 'xsd:integer', '@value': t };
    }
    return Number(t);
  }

  private string(): string {
    const start = this.at;
    this.at++;
    while (this.s[this.at] !== '"') this.at += this.s[this.at] === '\\' ? 2 : 1;
    this.at++;
    return JSON.parse(this.s.slice(start, this.at)) as string;
  }
}

