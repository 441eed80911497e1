import { sqlLiteral, type SqlSession } from '../../../../core/database/database.js';
import type { RecordedEvent } from '../../../../core/event-store/event.js';
import type { Projector } from '../../../../core/projections/projector.js';
import { CATALOG_STREAM } from '../../domain/catalog.js';
import type { MetricCondition, FieldType, FieldClassType } from '../domain/metric-query.js';
import { looksLikeMetricStreamName, METRIC_STREAM_PREFIX, type MetricValue } from '../domain/metric.js';
import { compileCondition, SqlParams } from './metric-sql.js';

export const METRICS_PROJECTOR = 'metric-points';

type Row = { metric: string; generation: number; stream_position: number; ts: number; value: number; dimensions: Record<string, MetricValue>; tags: Record<string, MetricValue> };
type FieldRow = { metric: string; generation: number; name: string; type: FieldType; field_class: FieldClassType };

/** NSDb's type of a value: INT, BIGINT, DECIMAL or VARCHAR. */
export function fieldTypeOf(value: MetricValue): FieldType {
  if (typeof value === 'string') return 'VARCHAR';
  if (!Number.isInteger(value)) return 'DECIMAL';
  return value >= -2147483648 && value <= 2147483647 ? 'INT' : 'BIGINT';
}

const NUMERIC_RANK: Record<string, number> = { INT: 1, BIGINT: 2, DECIMAL: 3 };

/** Numeric types widen (INT → BIGINT → DECIMAL); otherwise the first type seen stays. */
function widen(a: FieldType, b: FieldType): FieldType {
  const ra = NUMERIC_RANK[a];
  const rb = NUMERIC_RANK[b];
  return ra && rb ? (ra >= rb ? a : b) : a;
}

/** `metric-points:{db}.{ns}.{metric}:{generation}` → its metric name and generation. */
export function metricStreamOf(streamId: string): { metric: string; generation: number } | undefined {
  if (!streamId.startsWith(METRIC_STREAM_PREFIX)) return undefined;
  const rest = streamId.slice(METRIC_STREAM_PREFIX.length);
  const colon = rest.lastIndexOf(':');
  const generation = Number(rest.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(generation)) return undefined;
  return { metric: rest.slice(0, colon), generation };
}

const isScalar = (v: unknown): v is MetricValue => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

function scalars(v: unknown): Record<string, MetricValue> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter(([, x]) => isScalar(x))) as Record<string, MetricValue>;
}

/**
 * Keeps `metric_points`, `metric_fields` and `metric_heads` from the metric streams: each RecordInserted is a
 * point row; a PointsDeleted deletes the matching rows before it; a metric stream deleted from the catalog
 * loses its rows (its events stay in the log). Rebuildable from the log.
 *
 * Inline (in the append's transaction), so a point is queryable the moment its insert is acknowledged. It
 * was async at first, but an async projector holds one pooled connection for its lock for good, and with
 * one per flow too, the default pool (10) ran dry in the flows e2e suite on PostgreSQL.
 */
export const metricsProjector: Projector = {
  name: METRICS_PROJECTOR,
  version: 1,
  selection: { streamPrefixes: [METRIC_STREAM_PREFIX, CATALOG_STREAM], eventTypes: ['RecordInserted', 'PointsDeleted', 'StreamDeleted'] },
  tables: ['metric_points', 'metric_fields', 'metric_heads'],
  mode: 'inline',

  async handle(tx: SqlSession, events: readonly RecordedEvent[]): Promise<void> {
    // Upserts nothing later in the append reads: with only records to add, they go with its COMMIT.
    const defer = tx.defer && events.every((e) => e.type === 'RecordInserted') ? tx.defer.bind(tx) : undefined;
    /** One of the upserts below, made by `sqlOf` around the SQL of its JSON (a literal when deferred). */
    const upsert = async (sqlOf: (json: string) => string, json: string) => {
      if (defer) defer(sqlOf(`${sqlLiteral(json)}::jsonb`));
      else await tx.query(sqlOf('$1::jsonb'), [json]);
    };
    let rows: Row[] = [];
    const fields = new Map<string, FieldRow>();
    const heads = new Map<string, { metric: string; generation: number; position: number }>();

    const flush = async () => {
      if (rows.length) {
        await upsert(
          (json) => `INSERT INTO metric_points (metric, generation, stream_position, ts, value, dimensions, tags)
           SELECT metric, generation, stream_position, ts, value, dimensions, tags
           FROM jsonb_to_recordset(${json}) AS x(metric text, generation int, stream_position bigint, ts bigint, value float8, dimensions jsonb, tags jsonb)
           ON CONFLICT DO NOTHING`,
          JSON.stringify(rows),
        );
        rows = [];
      }
      if (fields.size) {
        await upsert(
          (json) => `INSERT INTO metric_fields (metric, generation, name, type, field_class)
           SELECT metric, generation, name, type, field_class FROM jsonb_to_recordset(${json}) AS x(metric text, generation int, name text, type text, field_class text)
           ON CONFLICT (metric, generation, name) DO UPDATE SET type = CASE
             WHEN metric_fields.type IN ('INT', 'BIGINT', 'DECIMAL') AND EXCLUDED.type IN ('INT', 'BIGINT', 'DECIMAL') THEN
               CASE WHEN 'DECIMAL' IN (metric_fields.type, EXCLUDED.type) THEN 'DECIMAL' WHEN 'BIGINT' IN (metric_fields.type, EXCLUDED.type) THEN 'BIGINT' ELSE 'INT' END
             ELSE metric_fields.type END`,
          JSON.stringify([...fields.values()]),
        );
        fields.clear();
      }
      if (heads.size) {
        await upsert(
          (json) => `INSERT INTO metric_heads (metric, generation, position)
           SELECT metric, generation, position FROM jsonb_to_recordset(${json}) AS x(metric text, generation int, position bigint)
           ON CONFLICT (metric, generation) DO UPDATE SET position = GREATEST(metric_heads.position, EXCLUDED.position)`,
          JSON.stringify([...heads.values()]),
        );
        heads.clear();
      }
    };

    const field = (metric: string, generation: number, name: string, type: FieldType, cls: FieldClassType) => {
      const key = `${metric}\u0000${generation}\u0000${name}`;
      const seen = fields.get(key);
      if (!seen) fields.set(key, { metric, generation, name, type, field_class: cls });
      else seen.type = widen(seen.type, type);
    };

    for (const event of events) {
      if (event.streamId === CATALOG_STREAM) {
        if (event.type !== 'StreamDeleted') continue;
        const { name, generation } = event.data as { name: string; generation: number };
        if (!looksLikeMetricStreamName(name)) continue;
        await flush();
        for (const table of ['metric_points', 'metric_fields', 'metric_heads']) {
          await tx.query(`DELETE FROM ${table} WHERE metric = $1 AND generation = $2`, [name, generation]);
        }
        continue;
      }
      const stream = metricStreamOf(event.streamId);
      if (!stream) continue;
      const { metric, generation } = stream;
      const headKey = `${metric}\u0000${generation}`;
      if (event.type === 'PointsDeleted') {
        await flush();
        const params = new SqlParams();
        const where = (event.data as { where?: MetricCondition }).where;
        const condition = where ? compileCondition(where, params) : 'TRUE';
        await tx.query(
          `DELETE FROM metric_points WHERE metric = ${params.add(metric, 'text')} AND generation = ${params.add(generation, 'int')} AND stream_position < ${params.add(event.streamPosition, 'bigint')} AND ${condition}`,
          params.values,
        );
      } else if (event.type === 'RecordInserted') {
        const data = event.data as Record<string, unknown>;
        if (typeof data.value === 'number' && Number.isFinite(data.value) && typeof data.timestamp === 'number' && Number.isSafeInteger(data.timestamp)) {
          const dimensions = scalars(data.dimensions);
          const tags = scalars(data.tags);
          rows.push({ metric, generation, stream_position: event.streamPosition, ts: data.timestamp, value: data.value, dimensions, tags });
          field(metric, generation, 'timestamp', 'BIGINT', 'TIMESTAMP');
          field(metric, generation, 'value', fieldTypeOf(data.value), 'VALUE');
          for (const [name, v] of Object.entries(dimensions)) field(metric, generation, name, fieldTypeOf(v), 'DIMENSION');
          for (const [name, v] of Object.entries(tags)) field(metric, generation, name, fieldTypeOf(v), 'TAG');
        }
        // (a record that is no point — impossible since inserts are checked — is skipped, never retried forever)
      } else continue;
      const head = heads.get(headKey);
      if (!head || head.position < event.streamPosition) heads.set(headKey, { metric, generation, position: event.streamPosition });
    }
    await flush();
  },
};
