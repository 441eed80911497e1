import type { JsonValue } from './plan.js';

/** A canonical string for a value: object keys sorted, so equal values give equal keys (group keys, distinct). */
export function canonicalKey(value: unknown): string {
  if (typeof value === 'string') return 's' + value;
  if (typeof value === 'number') return 'n' + value;
  if (value === undefined) return 'u';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'u';
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(sortKeys);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}

/** Equality of `==`: strict for primitives, structural for objects and arrays. */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    return canonicalKey(a) === canonicalKey(b);
  }
  return false;
}

/** Undefined becomes null (JSON has no undefined); used where a value must survive a snapshot. */
export function jsonOrNull(value: unknown): JsonValue {
  return value === undefined ? null : (value as JsonValue);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep copy of a JSON value (snapshots must not share objects with live state). */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  return structuredClone(value);
}
