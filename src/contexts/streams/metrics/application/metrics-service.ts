import type { Database } from '../../../../core/database/database.js';
import { UnavailableError } from '../../../../core/errors/domain-errors.js';
import type { EventStore } from '../../../../core/event-store/event-store.js';
import type { LogCheckpoint } from '../../../../core/event-store/event.js';
import type { ProjectionRuntime } from '../../../../core/projections/projection-runtime.js';
import { ProjectionTimeoutError } from '../../../../core/projections/projector.js';
import type { CatalogActors, CatalogView } from '../../application/catalog-view.js';
import type { StreamRecords } from '../../application/stream-records.js';
import { CATALOG_STREAM, recordStreamId, type StreamEntry } from '../../domain/catalog.js';
import type { MetricCondition, MetricField, MetricGroupState, MetricGroupStatesRequest, MetricSelection } from '../domain/metric-query.js';
import {
  metricStreamName,
  MetricNotFoundError,
  MetricValidationError,
  parseMetricStreamName,
  validateMetricName,
  validatePoint,
  type FieldError,
  type MetricPoint,
} from '../domain/metric.js';
import { compileGroupStates, compileMetricSelect, decodeGroupStates, decodeMetricRows } from '../read-model/metric-sql.js';
import { METRICS_PROJECTOR, metricsProjector } from '../read-model/metrics-projector.js';
import type { MetricQueryResult, MetricRef } from './commands.js';

export type MetricsSettings = { maxRecords: number; waitMs: number };

/** Writes, deletes and reads of metrics: streams of the catalog whose records are points. */
export class MetricsService {
  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly projections: ProjectionRuntime,
    private readonly catalog: CatalogView,
    private readonly catalogActors: CatalogActors,
    private readonly records: StreamRecords,
    private readonly settings: MetricsSettings,
  ) {}

  async write(ref: MetricRef, input: readonly unknown[], fieldPrefix: string): Promise<{ metric: string; count: number; position: number }> {
    const errors: FieldError[] = validateMetricName(ref);
    const now = Date.now();
    const points: MetricPoint[] = [];
    input.forEach((raw, i) => {
      const checked = validatePoint(raw, now, input.length > 1 ? `${fieldPrefix}[${i}].` : fieldPrefix);
      if (checked.errors) errors.push(...checked.errors);
      else points.push(checked.point);
    });
    if (errors.length) throw new MetricValidationError(errors);
    const name = metricStreamName(ref);
    if (!(await this.catalog.stream(name))) {
      await this.catalogActors.tell(CATALOG_STREAM, { kind: 'create_stream', name, mode: 'if_not_exists', at: new Date().toISOString(), streamKind: 'metric' });
      await this.catalog.refresh();
    }
    const outcome = await this.records.insert(name, points);
    return { metric: name, count: outcome.count, position: outcome.lastOffset };
  }

  async deletePoints(ref: MetricRef, where: MetricCondition | undefined): Promise<{ position: number }> {
    const name = await this.requireMetric(ref);
    const { position, logPosition } = await this.records.deletePoints(name, where ?? null);
    await this.caughtUp(logPosition);
    return { position };
  }

  async drop(ref: MetricRef): Promise<{ metric: string }> {
    const name = await this.requireMetric(ref);
    await this.catalogActors.tell(CATALOG_STREAM, { kind: 'delete_stream', name });
    await this.catalog.refresh();
    return { metric: name };
  }

  async query(ref: MetricRef, selection: MetricSelection, maxRecords = this.settings.maxRecords): Promise<MetricQueryResult> {
    const { name, entry } = await this.fresh(ref);
    const schema = await this.schema(name, entry.generation);
    const compiled = compileMetricSelect({ metric: name, generation: entry.generation }, selection, schema, maxRecords);
    const rows = await this.db.query(compiled.sql, compiled.params);
    return decodeMetricRows(compiled, rows);
  }

  /** The groups' incremental states (a live aggregate's seed), from the read model. */
  async groupStates(ref: MetricRef, request: MetricGroupStatesRequest): Promise<{ groups: MetricGroupState[]; position: number }> {
    const { name, entry } = await this.fresh(ref);
    const schema = await this.schema(name, entry.generation);
    const compiled = compileGroupStates({ metric: name, generation: entry.generation }, request, schema);
    return decodeGroupStates(compiled, await this.db.query(compiled.sql, compiled.params));
  }

  async describe(ref: MetricRef): Promise<{ fields: MetricField[] }> {
    const { name, entry } = await this.fresh(ref);
    return { fields: await this.schema(name, entry.generation) };
  }

  async list(): Promise<{ db: string; namespace: string; metric: string }[]> {
    await this.catalog.refresh();
    const out: { db: string; namespace: string; metric: string }[] = [];
    for (const [name, entry] of Object.entries(this.catalog.current.streams)) {
      if (entry.kind !== 'metric') continue;
      const parsed = parseMetricStreamName(name);
      if (parsed) out.push(parsed);
    }
    return out;
  }

  private async requireMetric(ref: MetricRef): Promise<string> {
    const name = metricStreamName(ref);
    const entry = await this.catalog.stream(name);
    if (!entry || entry.kind !== 'metric') throw new MetricNotFoundError(ref.metric);
    return name;
  }

  /** The metric's entry, once the read model holds every point appended before now. */
  private async fresh(ref: MetricRef): Promise<{ name: string; entry: StreamEntry }> {
    const name = await this.requireMetric(ref);
    const entry = this.catalog.current.streams[name];
    if (metricsProjector.mode === 'inline') return { name, entry }; // its rows committed with the points
    const streamId = recordStreamId(name, entry.generation);
    const last = await this.store.streamPosition(streamId);
    if (last > 0) {
      const [event] = await this.store.readStream(streamId, { after: last - 1, limit: 1 });
      if (event) await this.caughtUp({ transactionId: event.transactionId, globalPosition: event.globalPosition });
    }
    return { name, entry };
  }

  private async caughtUp(position: LogCheckpoint): Promise<void> {
    try {
      await this.projections.waitFor(METRICS_PROJECTOR, position, this.settings.waitMs);
    } catch (error) {
      if (error instanceof ProjectionTimeoutError) throw new UnavailableError(`the metrics read model is behind the log: ${error.message}`);
      throw error;
    }
  }

  private async schema(metric: string, generation: number): Promise<MetricField[]> {
    const rows = await this.db.query<{ name: string; type: MetricField['type']; field_class: MetricField['fieldClassType'] }>(
      `SELECT name, type, field_class FROM metric_fields WHERE metric = $1 AND generation = $2 ORDER BY name`,
      [metric, generation],
    );
    return rows.map((r) => ({ name: r.name, type: r.type, fieldClassType: r.field_class }));
  }
}
