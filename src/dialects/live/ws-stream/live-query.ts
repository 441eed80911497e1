import type { LiveMetricQuerySpec, LiveMetricShape } from '../../../contexts/streams/live-metrics/commands.js';
import type { MetricSelection } from '../../../contexts/streams/metrics/domain/metric-query.js';
import { aggregationKey, normalizeSelect, toMetricSelection, type NsdbSelect } from '../nsdb-sql/index.js';
import type { WsSubscribe } from './ws-stream-protocol.js';

/** The select with a subscribe message's `from`, `to` and `filters` ANDed to its WHERE (the NSDb dialect's translation), times resolved at `nowMs`. */
export function selectionOf(select: NsdbSelect, message: Pick<WsSubscribe, 'from' | 'to' | 'filters'>, nowMs: number): MetricSelection {
  return toMetricSelection(select, { from: message.from, to: message.to, filters: message.filters }, nowMs);
}

/** What the live evaluation computes: every match (plain), the new values of a DISTINCT, or the select's one aggregation. */
export function shapeOf(select: NsdbSelect): LiveMetricShape {
  const aggregated = select.fields === '*' ? [] : select.fields.filter((f) => f.aggregation !== undefined);
  // SELECT DISTINCT f: the values of f not seen before are pushed, as the answer holds them (not whole records).
  if (aggregated.length === 0 && select.distinct && select.fields !== '*' && select.fields.length === 1) return { kind: 'distinct', field: select.fields[0].name };
  if (aggregated.length === 0) {
    // Named fields: pushes hold those dimensions and tags only, as the answer does.
    const named = select.fields === '*' || select.fields.some((f) => f.name === '*') ? undefined : select.fields.map((f) => f.name);
    return named ? { kind: 'plain', fields: named } : { kind: 'plain' };
  }
  return {
    kind: 'aggregate',
    aggregates: aggregated.map((f) => ({ fn: f.aggregation!, resultKey: aggregationKey(f.aggregation!), distinctField: f.aggregation === 'count_distinct' ? f.name : undefined })),
    groupBy: select.groupBy ? (select.groupBy.kind === 'tag' ? { kind: 'tag', field: select.groupBy.field } : { kind: 'interval', intervalMs: select.groupBy.intervalMs }) : undefined,
  };
}

/**
 * The live query of a subscribe message. Its key is the select's canonical text (whitespace, keyword case
 * aside) with db, namespace and the message's bounds and filters: identical subscriptions share one
 * evaluation. LIMIT and ORDER BY shape only the answer, so they are not part of it.
 */
export function liveSpecOf(message: WsSubscribe, select: NsdbSelect, selection: MetricSelection): LiveMetricQuerySpec {
  const live: NsdbSelect = { ...select, orderBy: undefined, limit: undefined };
  const bounds = message.from !== undefined || message.to !== undefined || message.filters?.length ? ` ${JSON.stringify([message.from ?? null, message.to ?? null, message.filters ?? []])}` : '';
  return {
    stream: `${message.db}.${message.namespace}.${message.metric}`,
    key: `${normalizeSelect(live, message.db, message.namespace)}${bounds}`,
    where: selection.where,
    shape: shapeOf(select),
  };
}
