import type { DocCondition, DocSort } from '../../contexts/collections/documents/document-commands.js';
import { JxpError } from './jxp-errors.js';
import { fieldType, isKnownField, type Model } from './models.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
/** Most conditions one filter (query string or query body) may hold. */
export const MAX_CONDITIONS = 64;
/** Deepest nesting of a query body ($and inside $and …). */
export const MAX_QUERY_DEPTH = 8;
export const MAX_LIST_VALUES = 1000;

export type ListQuery = {
  conditions: DocCondition[];
  sort: DocSort;
  limit: number;
  limitCapped: boolean;
  page?: number;
  count: boolean;
  fields?: string[];
  populate: string[];
  showDeleted: boolean;
  search?: string;
};

const bad = (message: string) => new JxpError('BadRequest', message);

/** A value from the query string (text) or a body (JSON) as the field's type; a value that cannot be one is a BadRequest. */
export function castValue(model: Model, field: string, value: unknown): unknown {
  const type = fieldType(model, field);
  if (value === null) return null;
  switch (type) {
    case 'number':
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) throw bad(`${field}: ${JSON.stringify(value)} is not ${type === 'integer' ? 'an integer' : 'a number'}`);
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      throw bad(`${field}: ${JSON.stringify(value)} is not a boolean`);
    case 'string':
      return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    default:
      return value;
  }
}

function knownField(model: Model, field: string): string {
  if (!isKnownField(model, field)) throw bad(`Unknown field ${field} on ${model.name}`);
  return field;
}

/** `$gte:5`, `$in:[a,b]`, `$regex:/p/i`, `$exists:true`, or a plain value (equality). */
export function parseFilterValue(model: Model, field: string, text: string): DocCondition {
  const m = /^\$(gt|gte|lt|lte|ne|in|nin|regex|exists):([\s\S]*)$/.exec(text);
  if (!m) return { field, op: 'eq', value: castValue(model, field, text) };
  const [, op, rest] = m;
  switch (op) {
    case 'in':
    case 'nin': {
      const list = /^\[([\s\S]*)\]$/.exec(rest);
      if (!list) throw bad(`filter[${field}]: $${op} takes a list, [a,b]`);
      const items = list[1] === '' ? [] : list[1].split(',');
      if (items.length > MAX_LIST_VALUES) throw bad(`filter[${field}]: at most ${MAX_LIST_VALUES} values`);
      return { field, op, value: items.map((v) => castValue(model, field, v.trim())) };
    }
    case 'regex': {
      const re = /^\/([\s\S]*)\/([a-z]*)$/.exec(rest);
      return regexCondition(field, re ? re[1] : rest, re ? re[2] : '');
    }
    case 'exists':
      if (rest !== 'true' && rest !== 'false' && rest !== '1' && rest !== '0') throw bad(`filter[${field}]: $exists takes true or false`);
      return { field, op: 'exists', value: rest === 'true' || rest === '1' };
    default:
      return { field, op: op as 'gt', value: castValue(model, field, rest) };
  }
}

function regexCondition(field: string, pattern: string, flags: string): DocCondition {
  if (pattern.length > 1000) throw bad(`${field}: regular expression too long`);
  try {
    new RegExp(pattern, flags.replace(/[^gimsuy]/g, ''));
  } catch {
    throw bad(`${field}: invalid regular expression`);
  }
  return { field, op: 'regex', pattern, flags };
}

/**
 * JXP's list parameters, from the raw query string (bracket keys are read here, whatever the HTTP
 * framework's query parser does): filter[f]=v (repeated: AND), sort[f]=1|-1 or sort=-f, limit, page,
 * count, fields, populate, search, showDeleted.
 */
export function parseListQuery(model: Model, params: URLSearchParams): ListQuery {
  const q: ListQuery = { conditions: [], sort: [], limit: DEFAULT_LIMIT, limitCapped: false, count: false, populate: [], showDeleted: false };
  const sort: { field: string; direction: 1 | -1 }[] = [];
  for (const [key, value] of params) {
    const filter = /^filter\[([^\]]+)\]$/.exec(key);
    const sortKey = /^sort\[([^\]]+)\]$/.exec(key);
    if (filter) {
      q.conditions.push(parseFilterValue(model, knownField(model, filter[1]), value));
      if (q.conditions.length > MAX_CONDITIONS) throw bad(`Too many filters (at most ${MAX_CONDITIONS})`);
    } else if (sortKey) {
      const d = value === '-1' || value.toLowerCase() === 'desc' ? -1 : value === '1' || value.toLowerCase() === 'asc' ? 1 : undefined;
      if (d === undefined) throw bad(`sort[${sortKey[1]}] must be 1 or -1`);
      sort.push({ field: knownField(model, sortKey[1]), direction: d });
    } else if (key === 'sort') {
      for (const part of value.split(',').filter(Boolean)) {
        sort.push(part.startsWith('-') ? { field: knownField(model, part.slice(1)), direction: -1 } : { field: knownField(model, part.replace(/^\+/, '')), direction: 1 });
      }
    } else if (key === 'limit') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw bad('limit must be a positive integer');
      q.limit = Math.min(n, MAX_LIMIT);
      q.limitCapped = n > MAX_LIMIT;
    } else if (key === 'page') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw bad('page must be a positive integer');
      q.page = n;
    } else if (key === 'count') q.count = value === 'true' || value === '1';
    else if (key === 'fields') q.fields = value.split(',').map((f) => f.trim()).filter(Boolean);
    else if (key === 'populate') for (const f of value.split(',').map((s) => s.trim()).filter(Boolean)) q.populate.push(knownField(model, f));
    else if (key === 'search') q.search = value;
    else if (key === 'showDeleted') q.showDeleted = value === 'true' || value === '1';
  }
  q.sort = sort;
  return q;
}

/** A query body: {field: value | {$op: value, …}, $and: [...]}; every key ANDs. */
export function parseQueryBody(model: Model, query: unknown, depth = 0, out: DocCondition[] = []): DocCondition[] {
  if (depth > MAX_QUERY_DEPTH) throw bad(`Query nested too deep (at most ${MAX_QUERY_DEPTH})`);
  if (query === undefined || query === null) return out;
  if (typeof query !== 'object' || Array.isArray(query)) throw bad('query must be an object');
  for (const [key, value] of Object.entries(query as Record<string, unknown>)) {
    if (out.length > MAX_CONDITIONS) throw bad(`Too many conditions (at most ${MAX_CONDITIONS})`);
    if (key === '$and') {
      if (!Array.isArray(value)) throw bad('$and takes a list of queries');
      for (const sub of value) parseQueryBody(model, sub, depth + 1, out);
      continue;
    }
    if (key.startsWith('$')) throw bad(`Unsupported operator ${key}`);
    const field = knownField(model, key);
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).every((k) => k.startsWith('$'))) {
      for (const [op, operand] of Object.entries(value as Record<string, unknown>)) out.push(operatorCondition(model, field, op, operand));
    } else if (typeof value === 'string' && /^\$(gt|gte|lt|lte|ne|in|nin|regex|exists):/.test(value)) {
      out.push(parseFilterValue(model, field, value));
    } else out.push({ field, op: 'eq', value: castValue(model, field, value) });
  }
  if (out.length > MAX_CONDITIONS) throw bad(`Too many conditions (at most ${MAX_CONDITIONS})`);
  return out;
}

function operatorCondition(model: Model, field: string, op: string, operand: unknown): DocCondition {
  switch (op) {
    case '$eq':
      return { field, op: 'eq', value: castValue(model, field, operand) };
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
    case '$ne':
      return { field, op: op.slice(1) as 'gt', value: castValue(model, field, operand) };
    case '$in':
    case '$nin':
      if (!Array.isArray(operand) || operand.length > MAX_LIST_VALUES) throw bad(`${field}: ${op} takes a list (at most ${MAX_LIST_VALUES} values)`);
      return { field, op: op.slice(1) as 'in', value: operand.map((v) => castValue(model, field, v)) };
    case '$regex': {
      if (typeof operand !== 'string') throw bad(`${field}: $regex takes a string`);
      const re = /^\/([\s\S]*)\/([a-z]*)$/.exec(operand);
      return regexCondition(field, re ? re[1] : operand, re ? re[2] : '');
    }
    case '$exists':
      return { field, op: 'exists', value: Boolean(operand) };
    default:
      throw bad(`Unsupported operator ${op}`);
  }
}

/** Whether a document matches conditions (for socket subscriptions' filters), compared after casting. */
export function matches(doc: Readonly<Record<string, unknown>>, conditions: readonly DocCondition[]): boolean {
  return conditions.every((c) => {
    const has = Object.hasOwn(doc, c.field) && doc[c.field] !== undefined;
    const v = doc[c.field];
    switch (c.op) {
      case 'eq':
        return has && equal(v, c.value);
      case 'ne':
        return !has || !equal(v, c.value);
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        if (!has || typeof v !== typeof c.value || (typeof v !== 'number' && typeof v !== 'string')) return false;
        const a = v as number | string;
        const b = c.value as number | string;
        return c.op === 'gt' ? a > b : c.op === 'gte' ? a >= b : c.op === 'lt' ? a < b : a <= b;
      }
      case 'in':
        return has && c.value.some((x) => equal(v, x));
      case 'nin':
        return !has || !c.value.some((x) => equal(v, x));
      case 'regex':
        return typeof v === 'string' && new RegExp(c.pattern, c.flags.replace(/[^imsu]/g, '')).test(v);
      case 'exists':
        return has === c.value;
    }
  });
}

function equal(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
