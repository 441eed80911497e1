import type { RunningTideline } from '../../app.factory.js';
import { backends } from '../../../test/support/databases.js';
import { JetSocket, type Message } from '../../../test/support/jet-client.js';
import { useServersOnOneDatabase } from '../../../test/support/tideline.js';

const backend = backends().at(-1)!;


const wsUrl = (server: RunningTideline) => `${server.url.replace(/^http/, 'ws')}/ws`;

async function post(server: RunningTideline, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

describe('JET dialect (JSONJet): HTTP and /ws over durable streams', () => {
  const db = useServersOnOneDatabase('tideline-jet-');
  let server: RunningTideline;
  let client: JetSocket;
  beforeAll(async () => {
    server = await db.start();
    client = await JetSocket.open(wsUrl(server));
  });
  afterAll(() => client?.close());

  it('answers /api/execute with the result under `result` and beside `success`, and failures as {code, message}', async () => {
    const created = await post(server, '/api/execute', { query: 'create stream sensor_data' });
    expect(created).toEqual({
      status: 200,
      body: expect.objectContaining({ success: true, type: 'stream', streamName: 'sensor_data', message: "Stream 'sensor_data' created successfully", result: expect.objectContaining({ streamName: 'sensor_data' }) }),
    });
    expect((await post(server, '/api/execute', { query: 'create if not exists stream sensor_data' })).status).toBe(200);
    expect((await post(server, '/api/execute', { query: 'create stream sensor_data' })).body.error.code).toBe('STREAM_EXISTS');
    expect(await post(server, '/api/execute', { query: 'create stream alerts; create stream spare; delete stream spare' })).toMatchObject({ status: 200, body: { type: 'script', results: [{}, {}, {}] } });
    expect(await post(server, '/api/execute', {})).toEqual({ status: 400, body: { success: false, error: { code: 'QUERY_REQUIRED', message: 'Query is required' } } });
    expect(await post(server, '/api/execute', '{"query": ')).toMatchObject({ status: 400, body: { success: false, error: { code: 'INVALID_BODY' } } });
    const parse = await post(server, '/api/execute', { query: 'create stream ok;\ncreate strem x' });
    expect(parse).toMatchObject({ status: 400, body: { success: false, error: { code: 'PARSE_ERROR', line: 2, column: 8 } } });
    expect(await post(server, '/api/execute', { query: 'insert into nowhere {a: 1}' })).toMatchObject({ status: 400, body: { error: { code: 'STREAM_NOT_FOUND', message: "Stream 'nowhere' does not exist" } } });
    expect(await post(server, '/api/execute', { query: 'sensor_data | where temperature > 30' })).toMatchObject({ status: 400, body: { error: { code: 'SOCKET_REQUIRED' } } });
    expect(await post(server, '/api/execute', { query: 'sensor_data | write_to_file("/etc/passwd")' })).toMatchObject({ status: 400, body: { error: { code: 'PARSE_ERROR' } } });
    const status = await fetch(`${server.url}/api/execute`);
    expect([status.status, status.headers.get('allow')]).toEqual([405, 'POST']);
  });

  it('inserts over HTTP (unquoted keys in JET, batches atomically), lists streams, reports status and info, and logs errors to _log', async () => {
    expect((await post(server, '/api/execute', { query: 'insert into sensor_data [{id: 1, temperature: 31}, {id: 2, temperature: 20}]' })).body.result.result).toMatchObject({ count: 2, firstOffset: 1, lastOffset: 2 });
    expect(await post(server, '/api/insert', { target: 'sensor_data', data: { id: 3, temperature: 35 } })).toEqual({
      status: 200,
      body: { success: true, count: 1, target: 'sensor_data', message: "1 record(s) inserted successfully into 'sensor_data'", firstOffset: 3, lastOffset: 3 },
    });
    expect(await post(server, '/api/insert', { target: 'sensor_data', data: [{ a: 1 }, 7] })).toMatchObject({ status: 400, body: { success: false, error: { message: 'All items in data array must be objects' } } });
    expect(await post(server, '/api/insert', { data: {} })).toMatchObject({ status: 400, body: { error: { message: 'Target stream name is required' } } });
    const info = await post(server, '/api/execute', { query: 'info sensor_data' });
    expect(info.body.result.result.info).toMatchObject({ name: 'sensor_data', recordCount: 3, firstOffset: 1, lastOffset: 3 });
    const streams = (await (await fetch(`${server.url}/api/streams`)).json()) as { streams: string[] };
    expect(streams.streams).toEqual(expect.arrayContaining(['sensor_data', 'alerts', '_log']));
    const status = (await (await fetch(`${server.url}/api/status`)).json()) as Message;
    expect(status).toMatchObject({ status: 'running', version: expect.any(String), streams: streams.streams.length, activeQueries: 0, wsConnections: 1, uptime: expect.any(Number) });
    const log = await client.request({ type: 'subscribe', streamName: '_log', fromOffset: 'earliest', requestId: 'log' });
    const logged = await client.waitForData(log.subscriptions[0].subscriptionId, 3);
    expect(logged.map((m) => m.data)).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'error', code: 'STREAM_NOT_FOUND', message: "Stream 'nowhere' does not exist", query: 'insert into nowhere {a: 1}', timestamp: expect.any(String) })]));
    await client.request({ type: 'unsubscribe', requestId: 'log-off' });
    const spec = (await (await fetch(`${server.url}/docs-json`)).json()) as { paths: Message };
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/execute', '/api/insert', '/api/streams', '/api/status']));
  });

  it('greets, subscribes to several streams with offsets, and leaves no partial subscription when one is missing', async () => {
    const other = await JetSocket.open(wsUrl(server));
    try {
      const hello = await other.take((m) => m.type === 'connected');
      expect(hello).toEqual({ type: 'connected', clientId: expect.any(Number), message: expect.any(String) });
      const subscribed = await other.request({ type: 'subscribe', streamName: ['sensor_data', 'alerts'], requestId: 'r1' });
      expect(subscribed).toMatchObject({ type: 'subscribed', message: 'Subscribed to 2 stream(s)', subscriptions: [{ streamName: 'sensor_data' }, { streamName: 'alerts' }] });
      const [sensors, alerts] = subscribed.subscriptions.map((s: Message) => s.subscriptionId);
      expect(await other.request({ type: 'subscribe', streamName: ['alerts', 'missing'], requestId: 'r2' })).toEqual({ type: 'error', message: "Stream 'missing' does not exist", requestId: 'r2' });
      const inserted = await other.request({ type: 'insert', target: 'sensor_data', data: [{ id: 4, temperature: 40 }, { id: 5, temperature: 10 }], requestId: 'i1' });
      expect(inserted).toMatchObject({ type: 'insert_response', success: true, count: 2, target: 'sensor_data', message: "2 record(s) inserted successfully into 'sensor_data'", requestId: 'i1' });
      await other.request({ type: 'insert', target: 'alerts', data: { level: 'high' }, requestId: 'i2' });
      expect((await other.waitForData(sensors, 2)).map((m) => [m.offset, m.data.id, m.streamName, m.requestId])).toEqual([
        [4, 4, 'sensor_data', 'r1'],
        [5, 5, 'sensor_data', 'r1'],
      ]);
      expect((await other.waitForData(alerts, 1)).map((m) => m.data)).toEqual([{ level: 'high' }]);
      const subs = await other.request({ type: 'execute', query: 'list subscriptions', requestId: 'ls' });
      expect(subs.result.result.subscriptions).toEqual(expect.arrayContaining([{ streamName: 'alerts', subscribers: 1 }]));
      expect(await other.request({ type: 'unsubscribe', subscriptionId: alerts, requestId: 'u1' })).toEqual({ type: 'unsubscribed', subscriptionId: alerts, streamName: 'alerts', message: `Unsubscribed from subscription ${alerts}`, requestId: 'u1' });
      expect(await other.request({ type: 'unsubscribe', subscriptionId: alerts, requestId: 'u2' })).toMatchObject({ type: 'error', requestId: 'u2' });
      expect(await other.request({ type: 'unsubscribe', requestId: 'u3' })).toEqual({ type: 'unsubscribed', unsubscribed: [{ subscriptionId: sensors, streamName: 'sensor_data' }], message: 'Unsubscribed from 1 subscription(s)', requestId: 'u3' });
    } finally {
      other.close();
    }
  });

  it('answers bad frames in JSONJet words and stays open', async () => {
    const cases: [Message | string, Message][] = [
      [{ type: 'bogus', requestId: 'b1' }, { type: 'error', message: 'Unknown message type. Supported types: subscribe, unsubscribe, insert, execute', requestId: 'b1' }],
      [{ type: 'subscribe', requestId: 'b2' }, { type: 'error', message: 'Stream name(s) are required', requestId: 'b2' }],
      [{ type: 'insert', data: {}, requestId: 'b3' }, { type: 'insert_response', success: false, error: 'Target stream name is required', requestId: 'b3' }],
      [{ type: 'insert', target: 'alerts', requestId: 'b4' }, { type: 'insert_response', success: false, error: 'Data is required', requestId: 'b4' }],
      [{ type: 'insert', target: 'alerts', data: [], requestId: 'b5' }, { type: 'insert_response', success: false, error: 'Data array cannot be empty', requestId: 'b5' }],
      [{ type: 'insert', target: 'alerts', data: [1], requestId: 'b6' }, { type: 'insert_response', success: false, error: 'All items in data array must be objects', requestId: 'b6' }],
      [{ type: 'insert', target: 'missing', data: {}, requestId: 'b7' }, { type: 'insert_response', success: false, error: "Stream 'missing' does not exist", code: 'STREAM_NOT_FOUND', requestId: 'b7' }],
      [{ type: 'execute', query: 'delete stream missing', requestId: 'b8' }, { type: 'execute_response', success: false, error: { code: 'STREAM_NOT_FOUND', message: "Stream 'missing' does not exist" }, message: "Stream 'missing' does not exist", requestId: 'b8' }],
    ];
    for (const [frame, expected] of cases) expect(await client.request(frame as Message & { requestId: string })).toEqual(expected);
    client.send('{not json');
    expect(await client.take((m) => m.type === 'error' && /JSON/.test(m.message))).toBeTruthy();
    expect((await client.request({ type: 'execute', query: 'list streams', requestId: 'alive' })).success).toBe(true);
  });

  it('runs an anonymous pipeline sent by execute as a live query streamed to that socket until unsubscribed', async () => {
    const started = await client.request({ type: 'execute', query: 'sensor_data | where temperature > 30 | select {id, hot: true}', requestId: 'lq' });
    expect(started).toMatchObject({ type: 'execute_response', success: true, result: { type: 'query', subscriptionId: expect.any(Number) } });
    expect(await client.request({ type: 'execute', query: 'create lookup limits = {hot: 45}', requestId: 'lk' })).toMatchObject({ success: true, result: { type: 'lookup', lookupName: 'limits' } });
    const hotter = await client.request({ type: 'execute', query: 'sensor_data | where temperature > limits.hot', requestId: 'lh' });
    const windowed = await client.request({ type: 'execute', query: 'sensor_data | summarize {n: count(), total: sum(temperature)} over w = count_window(2)', requestId: 'lw' });
    await client.request({ type: 'insert', target: 'sensor_data', data: [{ id: 6, temperature: 50 }, { id: 7, temperature: 5 }, { id: 8, temperature: 33 }], requestId: 'i3' });
    const hot = await client.waitForData(started.result.subscriptionId, 2);
    expect(hot.map((m) => [m.data, m.requestId])).toEqual([
      [{ id: 6, hot: true }, 'lq'],
      [{ id: 8, hot: true }, 'lq'],
    ]);
    expect((await client.waitForData(hotter.result.subscriptionId, 1)).map((m) => m.data.id)).toEqual([6]);
    const windows = await client.waitForData(windowed.result.subscriptionId, 1);
    expect(windows[0].data).toMatchObject({ n: 2, total: 55 });
    const flushed = await client.request({ type: 'execute', query: 'flush sensor_data', requestId: 'fl' });
    expect(flushed.success).toBe(true);
    expect((await client.waitForData(windowed.result.subscriptionId, 2))[1].data).toMatchObject({ n: 1, total: 33 });
    expect(((await (await fetch(`${server.url}/api/status`)).json()) as Message).activeQueries).toBe(3);
    await client.request({ type: 'unsubscribe', requestId: 'lq-off' });
    expect(((await (await fetch(`${server.url}/api/status`)).json()) as Message).activeQueries).toBe(0);
  });

  it('closes a live query\'s arrival-time window when its time passes, with no later record', async () => {
    await client.request({ type: 'execute', query: 'create stream ticks', requestId: 'tc' });
    const windowed = await client.request({ type: 'execute', query: 'ticks | summarize {n: count()} over w = tumbling_window(1s)', requestId: 'tw' });
    await client.request({ type: 'insert', target: 'ticks', data: [{ v: 1 }, { v: 2 }], requestId: 'ti' });
    expect((await client.waitForData(windowed.result.subscriptionId, 1))[0].data).toMatchObject({ n: 2 });
    await client.request({ type: 'unsubscribe', subscriptionId: windowed.result.subscriptionId, requestId: 'tu' });
  });

  it('resumes from an offset across a server restart with no gap or duplicate', async () => {
    const before = await JetSocket.open(wsUrl(server));
    const sub = await before.request({ type: 'subscribe', streamName: 'sensor_data', fromOffset: 'earliest', requestId: 'all' });
    const seen = await before.waitForData(sub.subscriptions[0].subscriptionId, 8);
    expect(seen.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    before.close();
    await db.stop(server);
    client.close();
    server = await db.start();
    client = await JetSocket.open(wsUrl(server));
    const resumed = await client.request({ type: 'subscribe', streamName: 'sensor_data', fromOffset: 6, requestId: 'resume' });
    const id = resumed.subscriptions[0].subscriptionId;
    await client.request({ type: 'insert', target: 'sensor_data', data: [{ id: 9 }, { id: 10 }], requestId: 'i4' });
    const after = await client.waitForData(id, 4);
    expect(after.map((m) => m.offset)).toEqual([7, 8, 9, 10]);
    expect(after.map((m) => m.data.id)).toEqual([7, 8, 9, 10]);
    expect(await client.request({ type: 'subscribe', streamName: 'sensor_data', fromOffset: 'soon', requestId: 'bad-offset' })).toMatchObject({ type: 'error' });
  });

  (backend.name === 'postgres' ? it : it.skip)('delivers a record inserted on one server to subscribers on another sharing the database', async () => {
    const second = await db.start();
    const remote = await JetSocket.open(wsUrl(second));
    try {
      await remote.request({ type: 'execute', query: 'create stream shared', requestId: 'c' });
      const sub = await client.request({ type: 'subscribe', streamName: 'shared', requestId: 's' });
      await remote.request({ type: 'insert', target: 'shared', data: [{ n: 1 }, { n: 2 }], requestId: 'i' });
      const got = await client.waitForData(sub.subscriptions[0].subscriptionId, 2);
      expect(got.map((m) => [m.offset, m.data.n])).toEqual([
        [1, 1],
        [2, 2],
      ]);
    } finally {
      remote.close();
    }
  });
});
