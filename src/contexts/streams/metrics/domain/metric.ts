import { DomainError } from '../../../../core/errors/domain-errors.js';

/**
 * A metric (NSDb's data model) is a record stream of the streams context named `{db}.{namespace}.{metric}`;
 * its records are points `{timestamp, value, dimensions, tags}`.
 */
export type MetricValue = string | number;

export type MetricPoint = {
  /** Epoch milliseconds. */
  timestamp: number;
  value: number;
  dimensions: Record<string, MetricValue>;
  tags: Record<string, MetricValue>;
};

export type MetricName = { db: string; namespace: string; metric: string };

/** One refused field, as NSDb's validation answers: `{field, error}`. */
export type FieldError = { field: string; error: string };

/** db and namespace: letters, digits, underscores. */
const DB_PATTERN = /^[A-Za-z0-9_]{1,128}$/;
/** NSDb's metric names (RegexNSDb.metric): a letter, then letters, digits and underscores. */
const METRIC_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,127}$/;
/** Dimension and tag names: as NSDb's SQL fields, a letter or underscore, then letters, digits, underscores. */
const FIELD_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Names a point's dimensions and tags may not take: they are the point's own fields. */
const RESERVED_FIELDS = new Set(['timestamp', 'value']);
/** Most dimensions plus tags one point may carry, and most characters of one string value. */
export const MAX_POINT_FIELDS = 256;
export const MAX_STRING_VALUE = 4096;

/** Stream ids of metric streams start with this (so their projector selects them by prefix). */
export const METRIC_STREAM_PREFIX = 'metric-points:';

export function metricStreamName({ db, namespace, metric }: MetricName): string {
  return `${db}.${namespace}.${metric}`;
}

/** `{db}.{namespace}.{metric}` split, if `name` is a well-formed metric stream name. */
export function parseMetricStreamName(name: string): MetricName | undefined {
  const parts = name.split('.');
  if (parts.length !== 3) return undefined;
  const [db, namespace, metric] = parts;
  return validateMetricName({ db, namespace, metric }).length === 0 ? { db, namespace, metric } : undefined;
}

/** Only metric names contain dots; the streams catalog tells them apart this way. */
export function looksLikeMetricStreamName(name: string): boolean {
  return name.includes('.');
}

export function validateMetricName(name: { db?: unknown; namespace?: unknown; metric?: unknown }): FieldError[] {
  const errors: FieldError[] = [];
  const check = (field: 'db' | 'namespace' | 'metric', pattern: RegExp) => {
    const value = name[field];
    if (value === undefined || value === null || value === '') errors.push({ field, error: `Field ${field} is required` });
    else if (typeof value !== 'string') errors.push({ field, error: `Field ${field} must be a string` });
    else if (!pattern.test(value)) {
      errors.push({
        field,
        error: value.length > 128 ? `Field ${field} must be at most 128 chars` : field === 'metric' && /^[A-Za-z0-9_]+$/.test(value) ? 'Field metric must start with a letter' : `Field ${field} must contain only alphanumeric chars`,
      });
    }
  };
  check('db', DB_PATTERN);
  check('namespace', DB_PATTERN);
  check('metric', METRIC_PATTERN);
  return errors;
}

/** Throws INVALID_NAME unless `name` is `{db}.{namespace}.{metric}` with valid parts. */
export function requireMetricStreamName(name: string): MetricName {
  const parts = name.split('.');
  if (parts.length !== 3) throw new DomainError(`Invalid metric name '${name}': a metric stream is named {db}.{namespace}.{metric}`, 'INVALID_NAME');
  const errors = validateMetricName({ db: parts[0], namespace: parts[1], metric: parts[2] });
  if (errors.length) throw new DomainError(`Invalid metric name '${name}': ${errors.map((e) => e.error).join('; ')}`, 'INVALID_NAME');
  return { db: parts[0], namespace: parts[1], metric: parts[2] };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Checks a point as a client sent it (`prefix` names its fields in the errors, e.g. `bit.`) and fills in
 * what NSDb fills in: the timestamp (now), empty dimensions and tags. Either every error, or the point.
 */
export function validatePoint(input: unknown, nowMs: number, prefix = ''): { point: MetricPoint; errors?: undefined } | { point?: undefined; errors: FieldError[] } {
  if (!isPlainObject(input)) return { errors: [{ field: prefix.replace(/\.$/, '') || 'record', error: 'a point must be an object {timestamp, value, dimensions, tags}' }] };
  const errors: FieldError[] = [];
  for (const key of Object.keys(input)) {
    if (!['timestamp', 'value', 'dimensions', 'tags'].includes(key)) errors.push({ field: `${prefix}${key}`, error: `Field ${key} is not a field of a point (timestamp, value, dimensions, tags)` });
  }
  let timestamp = nowMs;
  if (input.timestamp !== undefined && input.timestamp !== null) {
    if (typeof input.timestamp !== 'number' || !Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
      errors.push({ field: `${prefix}timestamp`, error: 'Field timestamp must be an epoch in milliseconds (a non-negative integer)' });
    } else timestamp = input.timestamp;
  }
  const value = input.value;
  if (value === undefined || value === null) errors.push({ field: `${prefix}value`, error: 'Field value is required (a number)' });
  else if (typeof value !== 'number' || !Number.isFinite(value)) errors.push({ field: `${prefix}value`, error: 'Field value must be a number' });
  let count = 0;
  const section = (name: 'dimensions' | 'tags'): Record<string, MetricValue> => {
    const raw = input[name];
    if (raw === undefined || raw === null) return {};
    if (!isPlainObject(raw)) {
      errors.push({ field: `${prefix}${name}`, error: `Field ${name} must be an object of strings and numbers` });
      return {};
    }
    const out: [string, MetricValue][] = []; // (entries, then fromEntries: a key `__proto__` stays a key)
    for (const [key, v] of Object.entries(raw)) {
      count++;
      const field = `${prefix}${name}.${key}`;
      if (!FIELD_PATTERN.test(key)) errors.push({ field, error: `Field ${key} must start with a letter or underscore and contain only alphanumeric chars` });
      else if (RESERVED_FIELDS.has(key)) errors.push({ field, error: `Field ${key} is reserved (a point's own field)` });
      else if (typeof v === 'number' && Number.isFinite(v)) out.push([key, v]);
      else if (typeof v === 'string' && v.length <= MAX_STRING_VALUE && !v.includes('\u0000')) out.push([key, v]);
      else if (typeof v === 'string') errors.push({ field, error: v.length > MAX_STRING_VALUE ? `Field ${key} must be at most ${MAX_STRING_VALUE} chars` : `Field ${key} must not contain NUL characters` });
      else errors.push({ field, error: `Field ${key} must be a string or a number` });
    }
    return Object.fromEntries(out);
  };
  const dimensions = section('dimensions');
  const tags = section('tags');
  for (const key of Object.keys(dimensions)) if (Object.hasOwn(tags, key)) errors.push({ field: `${prefix}tags.${key}`, error: `Field ${key} is both a dimension and a tag` });
  if (count > MAX_POINT_FIELDS) errors.push({ field: `${prefix}dimensions`, error: `a point may carry at most ${MAX_POINT_FIELDS} dimensions and tags` });
  if (errors.length) return { errors };
  return { point: { timestamp, value: value as number, dimensions, tags } };
}

/** The points of one write were refused: nothing was stored. `errors` lists every bad field. */
export class MetricValidationError extends DomainError {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.error}`).join('; '), 'INVALID_METRIC_POINT');
  }
}

export class MetricNotFoundError extends DomainError {
  constructor(readonly metric: string) {
    super(`Metric ${metric} does not exist`, 'METRIC_NOT_FOUND');
  }
}

/** A select NSDb's rules refuse for this metric's schema, or one whose answer is too large. */
export class MetricQueryError extends DomainError {
  constructor(message: string, code = 'INVALID_METRIC_QUERY') {
    super(message, code);
  }
}

/**
 * The records of an insert into a metric stream, checked and completed (whichever dialect wrote them):
 * all of them, or a DomainError naming every bad record and field.
 */
export function metricRecordsOrThrow(stream: string, records: readonly Record<string, unknown>[], nowMs: number): MetricPoint[] {
  const points: MetricPoint[] = [];
  const errors: FieldError[] = [];
  records.forEach((record, index) => {
    const checked = validatePoint(record, nowMs, records.length > 1 ? `[${index}].` : '');
    if (checked.errors) errors.push(...checked.errors);
    else points.push(checked.point);
  });
  if (errors.length) {
    const error = new MetricValidationError(errors);
    (error as { message: string }).message = `Records refused by metric '${stream}' (nothing was inserted): ${error.message}`;
    throw error;
  }
  return points;
}
