import { sqlLiteral } from '../../../core/database/sql-literal.js';

type Cast = 'jsonb' | 'text' | 'text[]' | 'bigint' | 'int' | 'timestamptz';

/** A value the inline mode cannot spell as a literal (a NUL, a non-integer count): compile with placeholders. */
export class NotInlinableError extends Error {
  override readonly name = 'NotInlinableError';
}

/**
 * The parameters of one compiled statement. Every value a client sent (literals too) and every identifier
 * (table names, column keys) goes here and is referenced as `$n`: no client text is ever put into SQL.
 * Equal values share one placeholder, so equal expressions compile to equal SQL (GROUP BY relies on it).
 */
export class ParamBag {
  readonly values: unknown[] = [];
  private readonly seen = new Map<string, number>();

  /**
   * `inline`: each value is written into the SQL as a quoted literal with its cast instead of `$n`, for a
   * statement sent with others in one simple-protocol round trip (which takes no parameters).
   */
  constructor(private readonly inline = false) {}

  /** A placeholder with its cast, e.g. `$3::jsonb`. `value` is sent as is (a string for jsonb: its JSON text). */
  add(value: unknown, cast: Cast): string {
    if (this.inline) return literalOf(value, cast);
    const key = `${cast}\u0000${typeof value === 'string' ? value : JSON.stringify(value)}`;
    let n = this.seen.get(key);
    if (n === undefined) {
      this.values.push(value);
      n = this.values.length;
      this.seen.set(key, n);
    }
    return `$${n}::${cast}`;
  }

  json(value: unknown): string {
    return this.add(JSON.stringify(value), 'jsonb');
  }

  text(value: string): string {
    return this.add(value, 'text');
  }
}

function literalOf(value: unknown, cast: Cast): string {
  if (value === null || value === undefined) return `NULL::${cast}`;
  if (cast === 'text[]') {
    if (!Array.isArray(value)) throw new NotInlinableError('text[] wants an array');
    return value.length === 0 ? `'{}'::text[]` : `ARRAY[${value.map((v) => quoted(String(v))).join(', ')}]::text[]`;
  }
  if (cast === 'bigint' || cast === 'int') {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return `(${value})::${cast}`;
    if (typeof value === 'bigint') return `(${value.toString()})::${cast}`;
    if (typeof value === 'string') return `${quoted(value)}::${cast}`;
    throw new NotInlinableError(`${cast} wants an integer`);
  }
  return `${quoted(typeof value === 'string' ? value : JSON.stringify(value))}::${cast}`;
}

function quoted(text: string): string {
  if (text.includes('\u0000')) throw new NotInlinableError('NUL in a literal');
  return sqlLiteral(text);
}
