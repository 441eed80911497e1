/** Endb's JSON-LD envelope of a result. */
export const JSON_LD_CONTEXT = { xsd: 'http://www.w3.org/2001/XMLSchema#', '@vocab': 'http://endb.io/' } as const;

const isTyped = (v: unknown): v is { '@type': string; '@value': string } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Record<string, unknown>)['@type'] === 'string' && '@value' in (v as object) && Object.keys(v as object).length === 2;

/** A typed scalar as Endb shows it: date-times and times without a zero fraction. */
function tidy(v: { '@type': string; '@value': string }): { '@type': string; '@value': string } {
  if ((v['@type'] === 'xsd:dateTime' || v['@type'] === 'xsd:time') && typeof v['@value'] === 'string') return { '@type': v['@type'], '@value': v['@value'].replace(/\.0{6}(?=Z|$)/, '') };
  return v;
}

/** A value for JSON-LD: typed scalars stay `{"@type", "@value"}` (tidied). */
export function toJsonLd(value: unknown): unknown {
  if (isTyped(value)) return tidy(value);
  if (Array.isArray(value)) return value.map(toJsonLd);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonLd(v)]));
  return value;
}

const BIG = '\u0000big:';

/** A value as plain JSON text: a typed scalar is its `@value` (an integer beyond 2^53 its digits, unquoted). */
export function plainJson(value: unknown): string {
  const text = JSON.stringify(value, (_k, v) => {
    if (!isTyped(v)) return v;
    if (v['@type'] === 'xsd:integer') return `${BIG}${v['@value']}`;
    return tidy(v)['@value'];
  });
  return text.includes(BIG) ? text.replace(/"\\u0000big:(-?\d+)"/g, '$1') : text;
}

export function rowObject(columns: readonly string[], row: readonly unknown[], typed: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  columns.forEach((c, i) => (out[c] = typed ? toJsonLd(row[i]) : row[i]));
  return out;
}

/** `{"@context": …, "@graph": [rows as objects]}` as JSON text. */
export function jsonLdGraph(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return JSON.stringify({ '@context': JSON_LD_CONTEXT, '@graph': rows.map((r) => rowObject(columns, r, true)) });
}
