import type { RunningTideline } from '../../app.factory.js';
import { JetSocket } from '../../../test/support/jet-client.js';
import { startInProcess, useServersOnOneDatabase } from '../../../test/support/tideline.js';

type Answer = { status: number; body: any; type: string | null };

async function call(server: RunningTideline, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const type = response.headers.get('content-type');
  const text = await response.text();
  return { status: response.status, body: type?.includes('json') ? JSON.parse(text) : text, type };
}

const post = (server: RunningTideline, path: string, body: unknown) => call(server, 'POST', path, body);
const at = { db: 'db', namespace: 'ns' };
const query = (server: RunningTideline, metric: string, queryString: string, extra: Record<string, unknown> = {}) => post(server, '/query', { ...at, metric, queryString, ...extra });
const bit = (server: RunningTideline, metric: string, b: Record<string, unknown>) => post(server, '/data', { ...at, metric, bit: b });

describe('live dialect (NSDb): HTTP API over metric streams', () => {
  const db = useServersOnOneDatabase('tideline-live-http-');
  let server: RunningTideline;
  beforeAll(async () => {
    server = await db.start();
    const points = [
      { timestamp: 1000, value: 1, dimensions: { host: 'a' }, tags: { region: 'eu' } },
      { timestamp: 2000, value: 2, dimensions: { host: 'b' }, tags: { region: 'us' } },
      { timestamp: 3000, value: 4, dimensions: { host: 'alpha' }, tags: { region: 'eu' } },
      { timestamp: 4000, value: 8, dimensions: { host: 'c', core: 2 }, tags: { region: 'us' } },
    ];
    for (const p of points) expect(await bit(server, 'cpu', p)).toMatchObject({ status: 200, body: 'OK' });
  });

  it('answers /status as NSDb, and 405 for another method on a known path', async () => {
    expect(await call(server, 'GET', '/status')).toMatchObject({ status: 200, body: 'RUNNING' });
    const wrong = await fetch(`${server.url}/status`, { method: 'POST' });
    expect([wrong.status, wrong.headers.get('allow')]).toEqual([405, 'GET']);
    expect((await call(server, 'GET', '/data')).status).toBe(405);
    expect((await call(server, 'GET', '/commands/db/ns/cpu/extra')).status).toBe(404);
  });

  it('writes a point with POST /data (timestamp now when absent), refusing every bad field and storing nothing then', async () => {
    const before = Date.now();
    expect(await bit(server, 'mem', { value: 3, dimensions: { host: 'x' } })).toMatchObject({ status: 200, body: 'OK' });
    const [stored] = (await query(server, 'mem', 'select * from mem')).body.records;
    expect(stored).toMatchObject({ value: 3, dimensions: { host: 'x' }, tags: {} });
    expect(stored.timestamp).toBeGreaterThanOrEqual(before);

    expect(await post(server, '/data', { ...at, metric: 'bad-name', bit: { value: 1 } })).toEqual({
      status: 400,
      type: expect.stringContaining('json'),
      body: [{ field: 'metric', error: 'Field metric must contain only alphanumeric chars' }],
    });
    const many = await post(server, '/data', { db: 'd b', namespace: 'ns', metric: 'disk', bit: { timestamp: -1, value: 'x', dimensions: { ok: 1, nested: { a: 1 } }, tags: [] } });
    expect(many.status).toBe(400);
    expect(many.body.map((e: { field: string }) => e.field)).toEqual(['db', 'bit.timestamp', 'bit.value', 'bit.dimensions.nested', 'bit.tags']);
    expect((await post(server, '/data', { ...at, metric: 'disk', bit: { dimensions: { a: 1 } } })).body).toEqual([{ field: 'bit.value', error: 'Field value is required (a number)' }]);
    expect((await post(server, '/data', { ...at, metric: 'disk' })).body).toEqual([{ field: 'bit', error: expect.any(String) }]);
    expect((await post(server, '/data', '{"db": ')).status).toBe(400);
    expect((await post(server, '/data', [1])).status).toBe(400);
    // Nothing was stored: the metric was never created.
    expect((await call(server, 'GET', '/commands/db/ns/metrics')).body.metrics).not.toContain('disk');
    expect(await query(server, 'disk', 'select * from disk')).toMatchObject({ status: 404, body: 'Metric disk does not exist' });
  });

  it('runs selects with WHERE, filters and from/to, aggregates and groupings as NSDb answers them', async () => {
    expect(await query(server, 'cpu', 'SELECT * FROM cpu WHERE host LIKE a$ ORDER BY timestamp DESC')).toEqual({
      status: 200,
      type: expect.stringContaining('json'),
      body: {
        records: [
          { timestamp: 3000, value: 4, dimensions: { host: 'alpha' }, tags: { region: 'eu' } },
          { timestamp: 1000, value: 1, dimensions: { host: 'a' }, tags: { region: 'eu' } },
        ],
      },
    });
    const values = async (q: string, extra: Record<string, unknown> = {}) => (await query(server, 'cpu', q, extra)).body.records.map((r: { value: number }) => r.value);
    expect(await values('select * from cpu where timestamp in (2000, 3000)')).toEqual([2, 4]);
    expect(await values('select * from cpu where not region = eu or value > 100')).toEqual([2, 8]);
    expect(await values('select * from cpu where core is not null')).toEqual([8]);
    expect(await values('select * from cpu where timestamp < now - 1h')).toEqual([1, 2, 4, 8]);
    expect(await values('select * from cpu', { from: 2000, to: 3000 })).toEqual([2, 4]);
    expect(await values('select * from cpu', { filters: [{ dimension: 'region', value: 'us', operator: '=' }, { dimension: 'value', value: 2, operator: '>' }] })).toEqual([8]);
    expect(await values('select * from cpu', { filters: [{ dimension: 'core', operator: 'ISNULL' }, { dimension: 'host', value: 'a$', operator: 'LIKE' }] })).toEqual([1, 4]);
    expect(await values('select * from cpu limit 2')).toEqual([1, 2]);
    expect((await query(server, 'cpu', 'select host from cpu where host = b')).body.records).toEqual([{ timestamp: 2000, value: 2, dimensions: { host: 'b' }, tags: {} }]);
    expect((await query(server, 'cpu', 'select count(*) from cpu')).body.records).toEqual([{ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 4 } }]);
    expect((await query(server, 'cpu', 'select sum(value) from cpu group by region order by value desc')).body.records).toEqual([
      { timestamp: 0, value: 10, dimensions: {}, tags: { region: 'us' } },
      { timestamp: 0, value: 5, dimensions: {}, tags: { region: 'eu' } },
    ]);
    expect((await query(server, 'cpu', 'select count(*) from cpu group by interval 2s')).body.records).toEqual([
      { timestamp: 2000, value: 1, dimensions: { lowerBound: 0, upperBound: 2000 }, tags: { 'count(*)': 1 } },
      { timestamp: 4000, value: 2, dimensions: { lowerBound: 2000, upperBound: 4000 }, tags: { 'count(*)': 2 } },
      { timestamp: 6000, value: 1, dimensions: { lowerBound: 4000, upperBound: 6000 }, tags: { 'count(*)': 1 } },
    ]);
    expect((await query(server, 'cpu', 'select distinct region from cpu')).body.records.map((r: { tags: object }) => r.tags)).toEqual([{ region: 'eu' }, { region: 'us' }]);
  });

  it('answers bad statements, unknown metrics, rule violations and malformed bodies as NSDb', async () => {
    expect(await query(server, 'cpu', 'select * form cpu')).toEqual({
      status: 400,
      type: expect.stringContaining('text/plain'),
      body: "statement select * form cpu is invalid: expected FROM, found 'form cpu' at position 9",
    });
    expect(await query(server, 'cpu', 'select first(value) from cpu')).toMatchObject({ status: 400, body: 'cannot execute a query with a non global aggregation without a groupBy field' });
    expect(await query(server, 'cpu', 'select sum(value) from cpu group by host')).toMatchObject({ status: 400, body: 'cannot execute a groupBy query grouping by a field that is not a tag' });
    expect(await query(server, 'cpu', 'select nothere from cpu')).toMatchObject({ status: 400, body: 'field [nothere] does not exist' });
    expect(await query(server, 'nope', 'select * from nope')).toMatchObject({ status: 404, body: 'Metric nope does not exist' });
    expect(await query(server, 'cpu', 'insert into cpu val = 1')).toMatchObject({ status: 405, body: 'statement insert into cpu val = 1 is not a select statement' });
    expect(await query(server, 'cpu', 'drop metric cpu')).toMatchObject({ status: 405 });
    expect(await post(server, '/query', { db: 'db', queryString: 5 })).toEqual({
      status: 400,
      type: expect.stringContaining('json'),
      body: [
        { field: 'namespace', error: 'Field namespace is required' },
        { field: 'metric', error: 'Field metric is required' },
        { field: 'queryString', error: 'Field queryString must be a string' },
      ],
    });
    expect((await query(server, 'cpu', 'select * from cpu', { filters: [{ dimension: 'host', operator: 'BETWEEN', value: 1 }] })).status).toBe(400);
    expect((await query(server, 'cpu', 'select * from cpu', { from: 'yesterday' })).status).toBe(400);
    expect(await query(server, 'cpu', `select * from cpu where host = ${'x'.repeat(17_000)}`)).toMatchObject({ status: 400, body: expect.stringMatching(/^statement is too long/) });
    expect((await post(server, '/query', '{nope')).status).toBe(400);
  });

  it('refuses an answer over LIVE_MAX_QUERY_RECORDS unless a LIMIT within it', async () => {
    const bounded = await startInProcess({ ...db.env, LIVE_MAX_QUERY_RECORDS: '3' });
    db.servers.push(bounded);
    try {
      const too = await query(bounded, 'cpu', 'select * from cpu');
      expect(too.status).toBe(400);
      expect(too.body).toMatch(/more than 3 records/);
      expect((await query(bounded, 'cpu', 'select * from cpu limit 3')).body.records).toHaveLength(3);
    } finally {
      await db.stop(bounded);
    }
  });
  it('lists dbs, namespaces and metrics, describes fields, deletes points and drops metrics and namespaces', async () => {
    await post(server, '/data', { db: 'other', namespace: 'n2', metric: 'm', bit: { value: 1 } });
    expect((await call(server, 'GET', '/commands/dbs')).body).toEqual({ dbs: ['db', 'other'] });
    expect((await call(server, 'GET', '/commands/db/namespaces')).body).toEqual({ namespaces: ['ns'] });
    expect((await call(server, 'GET', '/commands/db/ns/metrics')).body).toEqual({ metrics: ['cpu', 'mem'] });
    expect((await call(server, 'GET', '/commands/db/nothing/metrics')).body).toEqual({ metrics: [] });
    expect((await call(server, 'GET', '/commands/db/ns/cpu')).body).toEqual({
      fields: [
        { name: 'core', type: 'INT', fieldClassType: 'DIMENSION' },
        { name: 'host', type: 'VARCHAR', fieldClassType: 'DIMENSION' },
        { name: 'region', type: 'VARCHAR', fieldClassType: 'TAG' },
        { name: 'timestamp', type: 'BIGINT', fieldClassType: 'TIMESTAMP' },
        { name: 'value', type: 'INT', fieldClassType: 'VALUE' },
      ],
    });
    expect(await call(server, 'GET', '/commands/db/ns/nope')).toMatchObject({ status: 404, body: 'Metric nope does not exist' });

    await bit(server, 'tmp', { timestamp: 1, value: 1, tags: { k: 'a' } });
    await bit(server, 'tmp', { timestamp: 2, value: 2, tags: { k: 'b' } });
    expect(await query(server, 'tmp', 'delete from tmp where k = a')).toMatchObject({ status: 200, body: 'Ok' });
    expect((await query(server, 'tmp', 'select * from tmp')).body.records.map((r: { value: number }) => r.value)).toEqual([2]);
    await bit(server, 'tmp', { timestamp: 3, value: 3, tags: { k: 'a' } });
    expect((await query(server, 'tmp', 'select * from tmp')).body.records.map((r: { value: number }) => r.value)).toEqual([2, 3]);

    expect(await call(server, 'DELETE', '/commands/db/ns/tmp')).toMatchObject({ status: 200, body: 'Ok' });
    expect((await call(server, 'GET', '/commands/db/ns/metrics')).body).toEqual({ metrics: ['cpu', 'mem'] });
    expect(await query(server, 'tmp', 'select * from tmp')).toMatchObject({ status: 404, body: 'Metric tmp does not exist' });
    expect((await call(server, 'DELETE', '/commands/db/ns/tmp')).status).toBe(404);
    // Written again: a new, empty metric.
    await bit(server, 'tmp', { timestamp: 9, value: 9 });
    expect((await query(server, 'tmp', 'select * from tmp')).body.records.map((r: { value: number }) => r.value)).toEqual([9]);

    expect(await call(server, 'DELETE', '/commands/other/n2')).toMatchObject({ status: 200, body: 'Ok' });
    expect((await call(server, 'GET', '/commands/dbs')).body).toEqual({ dbs: ['db'] });
  });

  it('sees through /query what JET inserts into {db}.{namespace}.{metric}, and JET inserts without a numeric value are refused', async () => {
    const jet = await post(server, '/api/insert', { target: 'db.ns.cpu', data: [{ timestamp: 5000, value: 16, dimensions: { host: 'jet' }, tags: { region: 'ap' } }] });
    expect(jet).toMatchObject({ status: 200, body: { success: true, count: 1 } });
    expect((await query(server, 'cpu', 'select * from cpu where host = jet')).body.records).toEqual([{ timestamp: 5000, value: 16, dimensions: { host: 'jet' }, tags: { region: 'ap' } }]);

    const refused = await post(server, '/api/insert', { target: 'db.ns.cpu', data: [{ value: 1 }, { value: 'high', dimensions: { host: 'jet2' } }] });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ success: false, error: { message: expect.stringContaining('[1].value: Field value must be a number') } });
    expect((await query(server, 'cpu', 'select count(*) from cpu')).body.records[0].tags).toEqual({ 'count(*)': 5 });
    const jetStatement = await post(server, '/api/execute', { query: "insert into db.ns.cpu {host: 'x'}" });
    expect(jetStatement.status).toBe(400);

    // Over the JET socket too.
    const socket = await JetSocket.open(`${server.url.replace(/^http/, 'ws')}/ws`);
    try {
      expect(await socket.request({ type: 'insert', target: 'db.ns.cpu', data: { timestamp: 6000, value: 32, tags: { region: 'ws' } }, requestId: 'w1' })).toMatchObject({ success: true, count: 1 });
      expect(await socket.request({ type: 'insert', target: 'db.ns.cpu', data: { temperature: 3 }, requestId: 'w2' })).toMatchObject({ success: false });
    } finally {
      socket.close();
    }
    expect((await query(server, 'cpu', 'select * from cpu where region = ws')).body.records).toEqual([{ timestamp: 6000, value: 32, dimensions: {}, tags: { region: 'ws' } }]);
  });

  it('documents every route in the OpenAPI document', async () => {
    const spec = (await (await fetch(`${server.url}/docs-json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths['/data'])).toEqual(['post']);
    expect(Object.keys(spec.paths['/query'])).toEqual(['post']);
    expect(Object.keys(spec.paths['/status'])).toEqual(['get']);
    expect(spec.paths['/commands/dbs'].get).toBeDefined();
    expect(spec.paths['/commands/{db}/namespaces'].get).toBeDefined();
    expect(spec.paths['/commands/{db}/{namespace}/metrics'].get).toBeDefined();
    expect(Object.keys(spec.paths['/commands/{db}/{namespace}/{metric}']).sort()).toEqual(['delete', 'get']);
  });
});
