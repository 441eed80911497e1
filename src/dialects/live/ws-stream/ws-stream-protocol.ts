/**
 * The frames of NSDb's `/ws-stream` (and Tideline's extensions: `fromPosition`, unsubscribe), validated at
 * the edge. Anything that is not one of them is answered `{"error":"invalid message sent"}`.
 */

export const INVALID_MESSAGE = JSON.stringify({ error: 'invalid message sent' });

/** NSDb's `/query` filters: `{dimension, value, operator}` or `{dimension, operator: ISNULL | ISNOTNULL}`. */
export type WsFilter =
  | { dimension: string; value: string | number; operator: '=' | '>' | '>=' | '<' | '<=' | 'LIKE' }
  | { dimension: string; operator: 'ISNULL' | 'ISNOTNULL' };

export type WsSubscribe = {
  kind: 'subscribe';
  db: string;
  namespace: string;
  metric: string;
  queryString: string;
  from?: number;
  to?: number;
  filters?: WsFilter[];
  /** Resume a plain select after this stream offset (a push's `position`). */
  fromPosition?: number;
};

export type WsUnsubscribe = { kind: 'unsubscribe'; quid: string };

export type WsClientMessage = WsSubscribe | WsUnsubscribe;

const COMPARISONS = new Set(['=', '>', '>=', '<', '<=', 'LIKE']);
const MAX_FILTERS = 64;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const epoch = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function filterOf(raw: unknown): WsFilter | undefined {
  if (!isObject(raw) || !nonEmpty(raw.dimension) || typeof raw.operator !== 'string') return undefined;
  const operator = raw.operator.toUpperCase();
  if (operator === 'ISNULL' || operator === 'ISNOTNULL') return { dimension: raw.dimension, operator };
  if (!COMPARISONS.has(operator)) return undefined;
  const value = raw.value;
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) return undefined;
  if (operator === 'LIKE' && typeof value !== 'string') return undefined;
  return { dimension: raw.dimension, value, operator: operator as '=' };
}

/** The message a text frame holds, or undefined when it is not one. */
export function parseWsMessage(text: string): WsClientMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw)) return undefined;
  if (raw.action !== undefined) {
    if (raw.action !== 'unsubscribe' || !nonEmpty(raw.quid)) return undefined;
    return { kind: 'unsubscribe', quid: raw.quid };
  }
  const { db, namespace, metric, queryString } = raw;
  if (!nonEmpty(db) || !nonEmpty(namespace) || !nonEmpty(metric) || !nonEmpty(queryString)) return undefined;
  const message: WsSubscribe = { kind: 'subscribe', db, namespace, metric, queryString };
  if (raw.from !== undefined && raw.from !== null) {
    if (!epoch(raw.from)) return undefined;
    message.from = raw.from;
  }
  if (raw.to !== undefined && raw.to !== null) {
    if (!epoch(raw.to)) return undefined;
    message.to = raw.to;
  }
  if (raw.filters !== undefined && raw.filters !== null) {
    if (!Array.isArray(raw.filters) || raw.filters.length > MAX_FILTERS) return undefined;
    const filters = raw.filters.map(filterOf);
    if (filters.some((f) => f === undefined)) return undefined;
    message.filters = filters as WsFilter[];
  }
  if (raw.fromPosition !== undefined && raw.fromPosition !== null) {
    if (!epoch(raw.fromPosition) || raw.fromPosition < 0) return undefined;
    message.fromPosition = raw.fromPosition;
  }
  return message;
}

export type WsStreamSettings = { refreshPeriodMs: number; minRefreshPeriodMs: number; retentionSize: number; maxRetentionSize: number };

/**
 * `refresh_period` and `retention_size` of an upgrade's query: the defaults when absent; a refusal text
 * (NSDb's for a period below the minimum) when unusable.
 */
export function socketParameters(query: URLSearchParams, settings: WsStreamSettings): { refreshPeriodMs: number; retentionSize: number } | { refusal: string } {
  const integer = (text: string) => (/^\s*[+-]?\d+\s*$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined);
  let refreshPeriodMs = settings.refreshPeriodMs;
  const period = query.get('refresh_period');
  if (period !== null) {
    const n = integer(period);
    if (n === undefined) return { refusal: `refresh_period must be an integer number of milliseconds, got '${period}'` };
    if (n < settings.minRefreshPeriodMs) return { refusal: `publish period of ${n} milliseconds cannot be used, must be greater or equal to ${settings.minRefreshPeriodMs}` };
    refreshPeriodMs = n;
  }
  let retentionSize = settings.retentionSize;
  const retention = query.get('retention_size');
  if (retention !== null) {
    const n = integer(retention);
    if (n === undefined) return { refusal: `retention_size must be an integer, got '${retention}'` };
    if (n < 1 || n > settings.maxRetentionSize) return { refusal: `retention size of ${n} cannot be used, must be between 1 and ${settings.maxRetentionSize}` };
    retentionSize = n;
  }
  return { refreshPeriodMs, retentionSize };
}
