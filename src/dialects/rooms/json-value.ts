/**
 * Values cross the wire as JSON or CBOR and are stored as JSONB. Byte strings (CBOR only) are stored
 * as `{"$bytes": "<base64>"}` and turned back into bytes for CBOR readers, into number arrays for JSON
 * readers (what DriftDB's own JSON encoding of bytes gives). A client's own object that would read as
 * such a marker (its only key `$bytes` or `$object`) is stored wrapped, `{"$object": {…}}`, so it comes
 * back as it was sent.
 */
export const BYTES_TAG = '$bytes';
export const OBJECT_TAG = '$object';
const isMarker = (keys: string[]) => keys.length === 1 && (keys[0] === BYTES_TAG || keys[0] === OBJECT_TAG);
export const MAX_VALUE_DEPTH = 64;

export class ValueError extends Error {}

/** Checks a decoded value can be stored (depth, NUL, lone surrogates) and encodes byte strings. */
export function toStorable(value: unknown): { value: unknown; binary: boolean } {
  // The common case (plain JSON) is only checked, not copied.
  if (!needsEncoding(value, 0)) return { value, binary: false };
  let binary = false;
  const visit = (v: unknown, depth: number): unknown => {
    if (depth > MAX_VALUE_DEPTH) throw new ValueError(`value nests deeper than ${MAX_VALUE_DEPTH} levels`);
    if (typeof v === 'string') return checkString(v);
    if (v === null || typeof v !== 'object') {
      if (v === undefined) return null;
      if (typeof v === 'number' && !Number.isFinite(v)) throw new ValueError('value holds a non-finite number');
      if (typeof v === 'bigint') throw new ValueError('value holds an integer too large for JSON');
      if (typeof v !== 'number' && typeof v !== 'boolean' && v !== null) throw new ValueError(`value holds a ${typeof v}, which JSON cannot carry`);
      return v;
    }
    if (v instanceof Uint8Array) {
      binary = true;
      return { [BYTES_TAG]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    }
    if (Array.isArray(v)) return v.map((item) => visit(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) out[checkString(k)] = visit(item, depth + 1);
    if (!isMarker(Object.keys(out))) return out;
    binary = true; // (the flag means "stored form differs": readers must decode)
    return { [OBJECT_TAG]: out };
  };
  const stored = visit(value, 0);
  return { value: stored, binary };
}

/** Validates like `toStorable` and tells whether the stored form would differ from the value. */
function needsEncoding(v: unknown, depth: number): boolean {
  if (depth > MAX_VALUE_DEPTH) throw new ValueError(`value nests deeper than ${MAX_VALUE_DEPTH} levels`);
  if (typeof v === 'string') {
    checkString(v);
    return false;
  }
  if (v === null || typeof v === 'boolean') return false;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ValueError('value holds a non-finite number');
    return false;
  }
  if (v === undefined) return true; // stored as null
  if (typeof v !== 'object') throw new ValueError(`value holds a ${typeof v}, which JSON cannot carry`);
  if (v instanceof Uint8Array) return true;
  let differs = false;
  if (Array.isArray(v)) {
    for (const item of v) differs = needsEncoding(item, depth + 1) || differs;
    return differs;
  }
  const keys = Object.keys(v);
  if (isMarker(keys)) return true;
  for (const k of keys) {
    checkString(k);
    differs = needsEncoding((v as Record<string, unknown>)[k], depth + 1) || differs;
  }
  return differs;
}

function checkString(s: string): string {
  // PostgreSQL's jsonb refuses NUL and unpaired surrogates: refuse them here, with a reason.
  if (s.includes('\u0000')) throw new ValueError('strings may not contain the NUL character (\\u0000)');
  if (!s.isWellFormed()) throw new ValueError('strings must be well-formed Unicode (unpaired surrogate)');
  return s;
}

/** Undoes `toStorable` for a reader: bytes for CBOR, number arrays for JSON. */
export function fromStorable(value: unknown, asBytes: boolean): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => fromStorable(v, asBytes));
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === BYTES_TAG && typeof record[BYTES_TAG] === 'string') {
    const bytes = new Uint8Array(Buffer.from(record[BYTES_TAG], 'base64'));
    return asBytes ? bytes : Array.from(bytes);
  }
  const escaped = keys.length === 1 && keys[0] === OBJECT_TAG && isPlainObject(record[OBJECT_TAG]);
  const source = escaped ? (record[OBJECT_TAG] as Record<string, unknown>) : record;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(source)) out[k] = fromStorable(source[k], asBytes);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
