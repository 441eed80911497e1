import { backends } from '../../../../../test/support/databases.js';
import { Database } from '../../../../core/database/database.js';
import { EventStore } from '../../../../core/event-store/event-store.js';
import type { LogCheckpoint } from '../../../../core/event-store/event.js';
import { EventFeed } from '../../../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../../../core/projections/projection-runtime.js';
import { CATALOG_STREAM, recordStreamId } from '../../domain/catalog.js';
import type { MetricAggregation, MetricCondition, MetricField, MetricSelection } from '../domain/metric-query.js';
import { compileGroupStates, compileMetricSelect, decodeGroupStates, decodeMetricRows } from './metric-sql.js';
import { METRICS_PROJECTOR, metricsProjector } from './metrics-projector.js';
import { CreateMetricPoints1766200000000 } from './migrations/1766200000000-create-metric-points.js';

const M = 'db.ns.cpu';
const STREAM = recordStreamId(M, 1);

const points = [
  { timestamp: 1000, value: 1, dimensions: { host: 'a', core: 1 }, tags: { region: 'eu', size: 10 } },
  { timestamp: 2000, value: 2.5, dimensions: { host: 'b', core: 2 }, tags: { region: 'us', size: 20 } },
  { timestamp: 3000, value: 4, dimensions: { host: 'alpha', core: 1 }, tags: { region: 'eu', size: 30 } },
  { timestamp: 4000, value: 8, dimensions: { host: 'c' }, tags: { region: 'us' } },
  { timestamp: 65_000, value: 16, dimensions: { host: 'a', core: 3000000000 }, tags: { region: 'ap', size: 10 } },
];

describe.each(backends())('metrics read model on $name', (backend) => {
  let db: Database;
  let store: EventStore;
  let runtime: ProjectionRuntime;
  let last: LogCheckpoint;

  beforeAll(async () => {
    db = await Database.open(await backend.target(), { migrations: [CreateMetricPoints1766200000000] });
    store = new EventStore(db);
    runtime = new ProjectionRuntime(db, store, new EventFeed());
    runtime.register(metricsProjector);
    await runtime.start();
    const appended = await store.append(STREAM, 'no_stream', points.map((data) => ({ type: 'RecordInserted', data })));
    const e = appended.events.at(-1)!;
    last = { transactionId: e.transactionId, globalPosition: e.globalPosition };
    await runtime.waitFor(METRICS_PROJECTOR, last);
  });
  afterAll(async () => {
    await runtime?.stop();
    await store?.drain();
    await db?.close();
    await backend.cleanup();
  });

  const schema = async (): Promise<MetricField[]> =>
    (await db.query(`SELECT name, type, field_class FROM metric_fields WHERE metric = $1 ORDER BY name`, [M])).map((r) => ({ name: r.name, type: r.type, fieldClassType: r.field_class }));
  const run = async (selection: Partial<MetricSelection>, maxRecords = 100) => {
    const compiled = compileMetricSelect({ metric: M, generation: 1 }, { fields: '*', distinct: false, ...selection }, await schema(), maxRecords);
    return decodeMetricRows(compiled, await db.query(compiled.sql, compiled.params));
  };
  const values = async (where: MetricCondition) => (await run({ where })).records.map((r) => r.value);

  it('keeps one row per point, the fields NSDb would describe, and the stream position', async () => {
    expect(await schema()).toEqual([
      { name: 'core', type: 'BIGINT', fieldClassType: 'DIMENSION' },
      { name: 'host', type: 'VARCHAR', fieldClassType: 'DIMENSION' },
      { name: 'region', type: 'VARCHAR', fieldClassType: 'TAG' },
      { name: 'size', type: 'INT', fieldClassType: 'TAG' },
      { name: 'timestamp', type: 'BIGINT', fieldClassType: 'TIMESTAMP' },
      { name: 'value', type: 'DECIMAL', fieldClassType: 'VALUE' },
    ]);
    const all = await run({});
    expect(all.position).toBe(5);
    expect(all.records).toEqual(points);
  });

  it('compiles every condition', async () => {
    expect(await values({ kind: 'compare', field: 'host', operator: '=', value: 'a' })).toEqual([1, 16]);
    expect(await values({ kind: 'compare', field: 'region', operator: '=', value: 'eu' })).toEqual([1, 4]);
    expect(await values({ kind: 'compare', field: 'size', operator: '=', value: 10 })).toEqual([1, 16]);
    expect(await values({ kind: 'compare', field: 'size', operator: '>', value: 10 })).toEqual([2.5, 4]);
    expect(await values({ kind: 'compare', field: 'core', operator: '<=', value: 2 })).toEqual([1, 2.5, 4]);
    expect(await values({ kind: 'compare', field: 'host', operator: '>=', value: 'b' })).toEqual([2.5, 8]);
    expect(await values({ kind: 'compare', field: 'timestamp', operator: '>', value: 2000 })).toEqual([4, 8, 16]);
    expect(await values({ kind: 'compare', field: 'value', operator: '<', value: 4 })).toEqual([1, 2.5]);
    expect(await values({ kind: 'compare', field: 'value', operator: '=', value: 'x' })).toEqual([]);
    expect(await values({ kind: 'between', field: 'timestamp', low: 2000, high: 4000 })).toEqual([2.5, 4, 8]);
    expect(await values({ kind: 'like', field: 'host', pattern: 'a$' })).toEqual([1, 4, 16]);
    expect(await values({ kind: 'like', field: 'host', pattern: '$ph$' })).toEqual([4]);
    expect(await values({ kind: 'like', field: 'host', pattern: 'a_%' })).toEqual([]);
    expect(await values({ kind: 'is_null', field: 'core' })).toEqual([8]);
    expect(await values({ kind: 'not', condition: { kind: 'is_null', field: 'size' } })).toEqual([1, 2.5, 4, 16]);
    expect(await values({ kind: 'not', condition: { kind: 'compare', field: 'size', operator: '>', value: 10 } })).toEqual([1, 8, 16]);
    expect(await values({ kind: 'is_null', field: 'nothere' })).toEqual([1, 2.5, 4, 8, 16]);
    expect(
      await values({
        kind: 'and',
        left: { kind: 'compare', field: 'region', operator: '=', value: 'us' },
        right: { kind: 'or', left: { kind: 'compare', field: 'host', operator: '=', value: 'b' }, right: { kind: 'compare', field: 'value', operator: '>', value: 5 } },
      }),
    ).toEqual([2.5, 8]);
  });

  it('projects, orders and limits plain selects', async () => {
    const picked = await run({ fields: [{ name: 'host' }, { name: 'size' }], orderBy: { field: 'value', descending: true }, limit: 2 });
    expect(picked.records).toEqual([
      { timestamp: 65_000, value: 16, dimensions: { host: 'a' }, tags: { size: 10 } },
      { timestamp: 4000, value: 8, dimensions: { host: 'c' }, tags: {} },
    ]);
    expect((await run({ orderBy: { field: 'host', descending: false } })).records.map((r) => r.dimensions.host)).toEqual(['a', 'a', 'alpha', 'b', 'c']);
    expect((await run({ orderBy: { field: 'timestamp', descending: true }, limit: 1 })).records.map((r) => r.timestamp)).toEqual([65_000]);
    expect((await run({ fields: [{ name: 'region' }], distinct: true })).records).toEqual(['ap', 'eu', 'us'].map((region) => ({ timestamp: 0, value: 0, dimensions: {}, tags: { region } })));
    expect((await run({ fields: [{ name: 'host' }], distinct: true, limit: 2 })).records.map((r) => r.dimensions.host)).toEqual(['a', 'alpha']);
  });

  it('refuses an answer larger than the bound unless a LIMIT within it', async () => {
    await expect(run({}, 4)).rejects.toThrow('more than 4 records');
    expect((await run({ limit: 4 }, 4)).records).toHaveLength(4);
  });

  it('aggregates globally, by tag and by interval as NSDb answers', async () => {
    const global = await run({ fields: [{ name: '*', aggregation: 'count' }, { name: 'value', aggregation: 'sum' }, { name: 'value', aggregation: 'max' }, { name: 'value', aggregation: 'avg' }] });
    expect(global.records).toEqual([{ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 5, 'sum(*)': 31.5, 'max(*)': 16, 'avg(*)': 6.3 } }]);
    expect((await run({ fields: [{ name: 'region', aggregation: 'count_distinct' }] })).records[0].tags).toEqual({ 'count(distinct *)': 3 });
    expect((await run({ fields: [{ name: '*', aggregation: 'count' }], limit: 2 })).records[0].tags).toEqual({ 'count(*)': 2 });
    const none = await run({ fields: [{ name: '*', aggregation: 'count' }, { name: 'value', aggregation: 'min' }], where: { kind: 'compare', field: 'value', operator: '>', value: 100 } });
    expect(none.records).toEqual([{ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 0 } }]);

    const byRegion = (aggregation: MetricAggregation, extra: Partial<MetricSelection> = {}) =>
      run({ fields: [{ name: 'value', aggregation }], groupBy: { kind: 'tag', field: 'region' }, ...extra }).then((r) => r.records.map((x) => [x.tags.region, x.value]));
    expect(await byRegion('sum')).toEqual([['ap', 16], ['eu', 5], ['us', 10.5]]);
    expect(await byRegion('count')).toEqual([['ap', 1], ['eu', 2], ['us', 2]]);
    expect(await byRegion('min')).toEqual([['ap', 16], ['eu', 1], ['us', 2.5]]);
    expect(await byRegion('first')).toEqual([['ap', 16], ['eu', 1], ['us', 2.5]]);
    expect(await byRegion('last')).toEqual([['ap', 16], ['eu', 4], ['us', 8]]);
    expect(await byRegion('avg', { orderBy: { field: 'value', descending: true }, limit: 2 })).toEqual([['ap', 16], ['us', 5.25]]);
    expect((await run({ fields: [{ name: 'value', aggregation: 'sum' }], groupBy: { kind: 'tag', field: 'region' } })).records[0]).toEqual({
      timestamp: 0,
      value: 16,
      dimensions: {},
      tags: { region: 'ap' },
    });

    const buckets = await run({ fields: [{ name: '*', aggregation: 'count' }], groupBy: { kind: 'interval', intervalMs: 2000 } });
    // A count answers every bucket of the span, the empty ones with 0 (as NSDb); other aggregations only non-empty ones.
    expect(buckets.records).toHaveLength(33);
    expect(buckets.records.slice(0, 4)).toEqual([
      { timestamp: 2000, value: 1, dimensions: { lowerBound: 0, upperBound: 2000 }, tags: { 'count(*)': 1 } },
      { timestamp: 4000, value: 2, dimensions: { lowerBound: 2000, upperBound: 4000 }, tags: { 'count(*)': 2 } },
      { timestamp: 6000, value: 1, dimensions: { lowerBound: 4000, upperBound: 6000 }, tags: { 'count(*)': 1 } },
      { timestamp: 8000, value: 0, dimensions: { lowerBound: 6000, upperBound: 8000 }, tags: { 'count(*)': 0 } },
    ]);
    expect(buckets.records.at(-1)).toEqual({ timestamp: 66_000, value: 1, dimensions: { lowerBound: 64_000, upperBound: 66_000 }, tags: { 'count(*)': 1 } });
    const countBy = (extra: Partial<MetricSelection>, max?: number) =>
      run({ fields: [{ name: '*', aggregation: 'count' }], groupBy: { kind: 'interval', intervalMs: 2000 }, ...extra }, max).then((r) => r.records.map((x) => [x.dimensions.lowerBound, x.value]));
    expect(await countBy({ orderBy: { field: 'timestamp', descending: true }, limit: 2 })).toEqual([[64_000, 1], [62_000, 0]]);
    expect(await countBy({ orderBy: { field: 'value', descending: true }, limit: 2 })).toEqual([[2000, 2], [0, 1]]);
    await expect(countBy({}, 10)).rejects.toThrow('more than 10 records');
    await expect(countBy({ orderBy: { field: 'value', descending: true }, limit: 2 }, 10)).rejects.toThrow('more than 10 records');
    expect(await countBy({ limit: 3 }, 10)).toEqual([[0, 1], [2000, 2], [4000, 1]]);
    expect((await run({ fields: [{ name: 'value', aggregation: 'max' }], groupBy: { kind: 'interval', intervalMs: 2000 } })).records).toHaveLength(4);
    expect((await run({ fields: [{ name: 'value', aggregation: 'sum' }], groupBy: { kind: 'interval', intervalMs: 60_000 } })).records.map((r) => [r.timestamp, r.tags])).toEqual([
      [60_000, { 'sum(*)': 15.5 }],
      [120_000, { 'sum(*)': 16 }],
    ]);
  });

  it('answers the incremental state of each group (a live aggregate seed), optionally as it stood at a position', async () => {
    const states = async (request: Partial<Parameters<typeof compileGroupStates>[1]>) => {
      const compiled = compileGroupStates({ metric: M, generation: 1 }, { distinctFields: [], maxGroups: 100, ...request }, await schema());
      return decodeGroupStates(compiled, await db.query(compiled.sql, compiled.params));
    };
    const byRegion = await states({ groupBy: { kind: 'tag', field: 'region' }, distinctFields: ['host', '*'] });
    expect(byRegion.position).toBe(5);
    const eu = byRegion.groups.find((g) => g.group === 'eu')!;
    expect(eu).toMatchObject({ count: 2, sum: 5, min: 1, max: 4, firstTs: 1000, firstValue: 1, lastTs: 3000, lastValue: 4 });
    expect([...eu.distinct.host].sort()).toEqual(['a', 'alpha']);
    expect(eu.distinct['*']).toHaveLength(2);
    const global = await states({ upToPosition: 2 });
    expect(global.groups).toEqual([{ count: 2, sum: 3.5, min: 1, max: 2.5, firstTs: 1000, firstValue: 1, lastTs: 2000, lastValue: 2.5, distinct: {} }]);
    const nothing = await states({ where: { kind: 'compare', field: 'value', operator: '>', value: 100 } });
    expect(nothing.groups).toEqual([{ count: 0, sum: 0, distinct: {} }]);
    expect((await states({ groupBy: { kind: 'interval', intervalMs: 60_000 } })).groups.map((g) => [g.group, g.count])).toEqual(expect.arrayContaining([[0, 4], [60_000, 1]]));
    expect((await states({ groupBy: { kind: 'tag', field: 'region' }, maxGroups: 1 })).groups).toHaveLength(2); // one past the bound: the caller refuses
  });

  it("applies NSDb's schema rules", async () => {
    await expect(run({ fields: [{ name: 'value', aggregation: 'sum' }], groupBy: { kind: 'tag', field: 'host' } })).rejects.toThrow('grouping by a field that is not a tag');
    await expect(run({ fields: [{ name: 'host', aggregation: 'sum' }], groupBy: { kind: 'tag', field: 'region' } })).rejects.toThrow('Count And Count Distinct Aggregation');
    await expect(run({ fields: [{ name: 'host', aggregation: 'count' }] })).rejects.toThrow('Count And Count Distinct Aggregation');
    await expect(run({ fields: [{ name: 'nope' }, { name: 'nada' }] })).rejects.toThrow('field [nope,nada] does not exist');
  });

  it('deletes matching points before a PointsDeleted, keeps later ones, and a rebuild from the log gives the same rows', async () => {
    const where: MetricCondition = { kind: 'compare', field: 'region', operator: '=', value: 'eu' };
    const appended = await store.append(STREAM, 5, [
      { type: 'PointsDeleted', data: { where, at: new Date().toISOString() } },
      { type: 'RecordInserted', data: { timestamp: 5000, value: 32, dimensions: { host: 'd' }, tags: { region: 'eu' } } },
    ]);
    const e = appended.events.at(-1)!;
    await runtime.waitFor(METRICS_PROJECTOR, { transactionId: e.transactionId, globalPosition: e.globalPosition });
    const after = await run({});
    expect(after.position).toBe(7);
    expect(after.records.map((r) => r.value)).toEqual([2.5, 8, 32, 16]);
    const dump = () => db.query(`SELECT metric, generation, stream_position::int AS p, ts::text, value, dimensions, tags FROM metric_points ORDER BY stream_position`);
    const before = await dump();
    await runtime.rebuild(METRICS_PROJECTOR);
    await runtime.waitFor(METRICS_PROJECTOR, { transactionId: e.transactionId, globalPosition: e.globalPosition });
    expect(await dump()).toEqual(before);
    expect((await run({})).position).toBe(7);
  });

  it('drops the rows of a metric stream deleted from the catalog', async () => {
    const appended = await store.append(CATALOG_STREAM, 'any', [{ type: 'StreamDeleted', data: { name: M, generation: 1 } }]);
    const e = appended.events[0];
    await runtime.waitFor(METRICS_PROJECTOR, { transactionId: e.transactionId, globalPosition: e.globalPosition });
    expect(await db.query(`SELECT count(*)::int AS n FROM metric_points`)).toEqual([{ n: 0 }]);
    expect(await schema()).toEqual([]);
    expect(await run({})).toEqual({ records: [], position: 0 });
  });
});
