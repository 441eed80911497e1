/**
 * The parameters of one compiled statement. Every value a client sent (literals too) and every identifier
 * (table names, column keys) goes here and is referenced as `$n`: no client text is ever put into SQL.
 * Equal values share one placeholder, so equal expressions compile to equal SQL (GROUP BY relies on it).
 */
export class ParamBag {
  readonly values: unknown[] = [];
  private readonly seen = new Map<string, number>();

  /** A placeholder with its cast, e.g. `$3::jsonb`. `value` is sent as is (a string for jsonb: its JSON text). */
  add(value: unknown, cast: 'jsonb' | 'text' | 'text[]' | 'bigint' | 'int' | 'timestamptz'): string {
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
