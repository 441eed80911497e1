/** The pieces of Endb's HTTP API that are pure: content negotiation, body forms, result rendering. */
import { plainJson, JSON_LD_CONTEXT, rowObject } from './json-ld.js';

export type MediaType = 'application/json' | 'application/ld+json' | 'application/x-ndjson' | 'text/csv';

/** The answer's media type from Accept (by q, then order), as Endb picks it; undefined: 406. */
export function negotiate(accept: string | undefined): MediaType | undefined {
  if (accept === undefined || accept.trim() === '') return 'application/json';
  const ranges = accept
    .split(',')
    .map((part, i) => {
      const [type, ...params] = part.split(';').map((s) => s.trim());
      const q = params.map((p) => /^q=([\d.]+)$/i.exec(p)).find(Boolean);
      return { type: type.toLowerCase(), q: q ? Number(q[1]) : 1, i };
    })
    .filter((r) => r.type.includes('/'))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { type } of ranges) {
    if (type === '*/*' || type === 'application/*' || type === 'application/json') return 'application/json';
    if (type === 'application/ld+json') return 'application/ld+json';
    if (type === 'application/x-ndjson') return 'application/x-ndjson';
    if (type === 'text/*' || type === 'text/csv') return 'text/csv';
  }
  return undefined;
}

/** The essence of a Content-Type (`type/subtype`, lower case) and its boundary, if any. */
export function contentType(header: string | undefined): { essence?: string; boundary?: string } {
  if (!header) return {};
  const [essence, ...params] = header.split(';').map((s) => s.trim());
  const boundary = params.map((p) => /^boundary=(?:"([^"]+)"|(.+))$/i.exec(p)).find(Boolean);
  return { essence: essence.toLowerCase(), boundary: boundary ? (boundary[1] ?? boundary[2]) : undefined };
}

export type FormField = { name: string; contentType: string; value: string };

/** multipart/form-data fields (text); undefined when the body does not follow the boundary. */
export function parseMultipart(body: Buffer, boundary: string): FormField[] | undefined {
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  const parts = text.split(delimiter);
  if (parts.length < 2) return undefined;
  const fields: FormField[] = [];
  for (const raw of parts.slice(1)) {
    if (raw.startsWith('--')) break;
    const part = raw.replace(/^\r?\n/, '').replace(/\r?\n$/, '');
    const split = part.search(/\r?\n\r?\n/);
    if (split < 0) return undefined;
    const headers = part.slice(0, split);
    const value = part.slice(split).replace(/^\r?\n\r?\n/, '');
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
    if (name === undefined) continue;
    const type = /content-type:\s*([^\r\n;]+)/i.exec(headers)?.[1]?.trim().toLowerCase() ?? 'text/plain';
    fields.push({ name, contentType: type, value: Buffer.from(value, 'latin1').toString('utf8') });
  }
  return fields;
}

/** A result in the negotiated media type, as Endb writes it. */
export function renderResult(type: MediaType, columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  switch (type) {
    case 'application/json':
      return `[${rows.map((r) => plainJson(r)).join(',')}]\n`;
    case 'application/ld+json':
      return `{"@context":${JSON.stringify(JSON_LD_CONTEXT)},"@graph":[${rows.map((r) => JSON.stringify(rowObject(columns, r, true))).join(',')}]}\n`;
    case 'application/x-ndjson':
      return rows.map((r) => `${plainJson(rowObject(columns, r, false))}\n`).join('');
    case 'text/csv':
      return [columns, ...rows].map((r) => `${r.map((cell) => plainJson(cell).replace(/\\"/g, '""')).join(',')}\r\n`).join('');
  }
}
