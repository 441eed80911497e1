import { request as httpRequest } from 'node:http';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import WebSocket from 'ws';
import type { RunningTideline } from '../../../app.factory.js';
import { LiveMetricsStatsQuery } from '../../../contexts/streams/live-metrics/commands.js';
import { DeleteMetricPointsCommand, DropMetricCommand, WriteMetricPointsCommand } from '../../../contexts/streams/metrics/application/commands.js';
import { JetSocket } from '../../../../test/support/jet-client.js';
import { useServersOnOneDatabase } from '../../../../test/support/tideline.js';

type Frame = { at: number; message: Record<string, any> };

/** A `/ws-stream` client keeping every frame with the time it arrived. */
class StreamSocket {
  readonly frames: Frame[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push({ at: Date.now(), message: JSON.parse(String(data)) }));
  }

  static open(url: string): Promise<StreamSocket> {
    return new Promise((resolve, reject) => {
      const socket = new StreamSocket(new WebSocket(url));
      socket.ws.once('open', () => resolve(socket));
      socket.ws.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next frame not yet taken that matches. */
  async take(match: (m: Record<string, any>) => boolean, timeoutMs = 5000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => match(f.message));
      if (i >= 0) return this.frames.splice(i, 1)[0].message;
      if (Date.now() > deadline) throw new Error(`no matching frame; have ${JSON.stringify(this.frames.map((f) => f.message)).slice(0, 800)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async subscribe(message: Record<string, unknown>): Promise<Record<string, any>> {
    this.send(message);
    return this.take((m) => m.queryString === message.queryString && ('quid' in m || 'reason' in m) && !('position' in m && 'records' in m && !('queryString' in m)));
  }

  pushes(quid: string): Frame[] {
    return this.frames.filter((f) => f.message.quid === quid && f.message.position !== undefined && f.message.queryString === undefined);
  }

  /** Waits until the pushes of `quid` hold `count` records (or dropped ones) in all. */
  async records(quid: string, count: number, timeoutMs = 5000): Promise<Record<string, any>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = this.pushes(quid).flatMap((f) => f.message.records);
      if (all.length >= count) return all;
      if (Date.now() > deadline) throw new Error(`only ${all.length} of ${count} records for ${quid}: ${JSON.stringify(this.pushes(quid).map((f) => f.message)).slice(0, 800)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** What an upgrade to `path` is answered with when refused: status and body. */
function upgradeRefusal(server: RunningTideline, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: server.port,
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      reject(new Error('upgraded'));
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('/ws-stream (NSDb live queries): answers, throttled pushes, retention, groups, buckets, shared quids', () => {
  const db = useServersOnOneDatabase('tideline-ws-stream-', { LIVE_WS_MAX_SUBSCRIPTIONS: '5', SEND_BUFFER_LIMIT_BYTES: '65536', LIVE_WS_MAX_RESUME_RECORDS: '20', LIVE_WS_MAX_GROUPS: '4' });
  let server: RunningTideline;
  let commands: CommandBus;
  const sockets: StreamSocket[] = [];
  const open = async (query = '') => {
    const socket = await StreamSocket.open(`${server.url.replace(/^http/, 'ws')}/ws-stream${query}`);
    sockets.push(socket);
    return socket;
  };
  const write = (metric: string, points: unknown[]) => commands.execute(new WriteMetricPointsCommand({ db: 'db', namespace: 'ns', metric }, points));
  const sub = (metric: string, queryString: string, extra: Record<string, unknown> = {}) => ({ db: 'db', namespace: 'ns', metric, queryString, ...extra });

  beforeAll(async () => {
    server = await db.start();
    commands = server.app.get(CommandBus);
    await write('people', [
      { timestamp: 1000, value: 1, dimensions: { name: 'ann' }, tags: { city: 'rome' } },
      { timestamp: 2000, value: 2, dimensions: { name: 'bob' }, tags: { city: 'oslo' } },
      { timestamp: 3000, value: 3, dimensions: { name: 'cid' }, tags: { city: 'rome' } },
    ]);
  });
  afterAll(async () => {
    for (const socket of sockets) await socket.close();
  });

  it('refuses an upgrade whose refresh_period is below the minimum or not an integer, with 400', async () => {
    expect(await upgradeRefusal(server, '/ws-stream?refresh_period=50')).toEqual({ status: 400, body: 'publish period of 50 milliseconds cannot be used, must be greater or equal to 100' });
    expect((await upgradeRefusal(server, '/ws-stream?refresh_period=1.5')).status).toBe(400);
    expect((await upgradeRefusal(server, '/ws-stream?refresh_period=abc')).status).toBe(400);
    expect((await upgradeRefusal(server, '/ws-stream?retention_size=0')).status).toBe(400);
    const ok = await open('?refresh_period=200&retention_size=10');
    expect(ok.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('answers every bad message in its shape and keeps the socket open', async () => {
    const socket = await open();
    socket.send('not json');
    expect(await socket.take(() => true)).toEqual({ error: 'invalid message sent' });
    socket.send({ db: 'db', namespace: 'ns', queryString: 'select * from people' });
    expect(await socket.take(() => true)).toEqual({ error: 'invalid message sent' });
    socket.send({ action: 'unsubscribe' });
    expect(await socket.take(() => true)).toEqual({ error: 'invalid message sent' });
    expect(await socket.subscribe(sub('nobody', 'select * from nobody limit 1'))).toEqual({ db: 'db', namespace: 'ns', metric: 'nobody', queryString: 'select * from nobody limit 1', reason: 'Metric nobody does not exist' });
    expect(await socket.subscribe(sub('people', 'delete from people where name = ann'))).toMatchObject({ reason: 'not a select statement' });
    const bad = await socket.subscribe(sub('people', 'select * form people'));
    expect(bad).toEqual({ db: 'db', namespace: 'ns', metric: 'people', queryString: 'select * form people', reason: expect.any(String) });
    expect(bad.reason.length).toBeGreaterThan(0);
    expect((await socket.subscribe(sub('people', `select * from people where name = '${'x'.repeat(20_000)}'`))).reason).toMatch(/too long/);
    expect(await socket.subscribe(sub('people', 'select * from people limit 1'))).toMatchObject({ quid: expect.any(String), records: [expect.any(Object)] });
    expect(await socket.take(() => true, 300).catch(() => undefined)).toBeUndefined(); // nothing else came
  });

  it('answers with the query on stored data (LIMIT and ORDER BY for the answer only), then pushes every match after it', async () => {
    const socket = await open('?refresh_period=100');
    const answer = await socket.subscribe(sub('people', "select * from people where city = 'rome' order by timestamp desc limit 1"));
    expect(answer).toMatchObject({ db: 'db', namespace: 'ns', metric: 'people', queryString: expect.any(String), quid: expect.any(String) });
    expect(answer.records).toEqual([{ timestamp: 3000, value: 3, dimensions: { name: 'cid' }, tags: { city: 'rome' } }]);
    await write('people', [
      { timestamp: 4000, value: 4, dimensions: { name: 'dan' }, tags: { city: 'rome' } },
      { timestamp: 5000, value: 5, dimensions: { name: 'eve' }, tags: { city: 'oslo' } },
      { timestamp: 6000, value: 6, dimensions: { name: 'fay' }, tags: { city: 'rome' } },
    ]);
    const pushed = await socket.records(answer.quid, 2);
    expect(pushed.map((r) => r.value)).toEqual([4, 6]);
    const push = socket.pushes(answer.quid)[0].message;
    expect(push).toMatchObject({ quid: answer.quid, db: 'db', namespace: 'ns', metric: 'people', position: expect.any(Number) });
    expect(push.dropped).toBeUndefined();
  });

  it('pushes at most once per refresh period per query (measured by frame arrival)', async () => {
    const period = 250;
    const socket = await open(`?refresh_period=${period}&retention_size=1000`);
    const { quid } = await socket.subscribe(sub('ticks', 'select * from ticks where value >= 0'));
    expect(quid).toBeUndefined(); // no metric yet
    await write('ticks', [{ timestamp: 1, value: 0 }]);
    const answer = await socket.subscribe(sub('ticks', 'select * from ticks where value >= 0'));
    expect(answer.quid).toEqual(expect.any(String));
    for (let i = 1; i <= 20; i++) {
      await write('ticks', [{ timestamp: 1 + i, value: i }]);
      await sleep(40);
    }
    const records = await socket.records(answer.quid, 20);
    expect(records.map((r) => r.value)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const times = socket.pushes(answer.quid).map((f) => f.at);
    expect(times.length).toBeGreaterThan(1);
    expect(times.length).toBeLessThan(20); // batched, not one frame per record
    // The server spaces pushes ≥ period apart; arrival adds jitter, so: each gap well above zero, and no more
    // pushes over the span than one per period.
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(period / 2);
    expect((times.length - 1) * period).toBeLessThanOrEqual(times.at(-1)! - times[0] + 50);
    const positions = socket.pushes(answer.quid).map((f) => f.message.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('keeps the newest retention_size records of a push and says how many were dropped', async () => {
    const socket = await open('?retention_size=3');
    const answer = await socket.subscribe(sub('people', "select * from people where city = 'oslo'"));
    await write('people', Array.from({ length: 10 }, (_, i) => ({ timestamp: 10_000 + i, value: 100 + i, dimensions: { name: `p${i}` }, tags: { city: 'oslo' } })));
    const records = await socket.records(answer.quid, 3);
    const push = socket.pushes(answer.quid)[0].message;
    expect(records.map((r) => r.value)).toEqual([107, 108, 109]);
    expect(push.dropped).toBe(7);
  });

  it('maintains GROUP BY tag incrementally and pushes only the groups that changed', async () => {
    await write('visits', [
      { timestamp: 1, value: 1, tags: { page: 'home' } },
      { timestamp: 2, value: 1, tags: { page: 'home' } },
      { timestamp: 3, value: 1, tags: { page: 'faq' } },
    ]);
    const socket = await open();
    const answer = await socket.subscribe(sub('visits', 'select count(*) from visits group by page'));
    expect(answer.quid).toEqual(expect.any(String));
    expect(answer.records).toHaveLength(2);
    await write('visits', [{ timestamp: 4, value: 1, tags: { page: 'home' } }]);
    const [changed] = await socket.records(answer.quid, 1);
    expect(changed).toMatchObject({ value: 3, tags: expect.objectContaining({ page: 'home' }) });
    expect(socket.pushes(answer.quid)[0].message.records).toHaveLength(1);
    await write('visits', [{ timestamp: 5, value: 1, tags: { page: 'faq' } }, { timestamp: 6, value: 1, tags: { page: 'blog' } }]);
    const all = await socket.records(answer.quid, 3);
    expect(all.slice(1).map((r) => [r.tags.page, r.value]).sort()).toEqual([['blog', 1], ['faq', 2]]);
    // A new evaluation starts from the read model, so deleted points are not counted.
    await commands.execute(new DeleteMetricPointsCommand({ db: 'db', namespace: 'ns', metric: 'visits' }, { kind: 'compare', field: 'page', operator: '=', value: 'faq' }));
    const fresh = await socket.subscribe(sub('visits', 'select count(*) from visits where value >= 0 group by page'));
    expect(fresh.records.map((r: Record<string, any>) => r.tags.page).sort()).toEqual(['blog', 'home']);
    await write('visits', [{ timestamp: 8, value: 1, tags: { page: 'faq' } }]);
    expect(await socket.records(fresh.quid, 1)).toEqual([{ timestamp: 0, value: 1, dimensions: {}, tags: { page: 'faq' } }]);
  });

  it('maintains global aggregates and pushes them in the answer’s shape', async () => {
    const socket = await open();
    const answer = await socket.subscribe(sub('visits', 'select count(*), sum(value) from visits'));
    const [before] = answer.records;
    expect(before).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': expect.any(Number), 'sum(*)': expect.any(Number) } });
    await write('visits', [{ timestamp: 7, value: 10, tags: { page: 'home' } }]);
    const [after] = await socket.records(answer.quid, 1);
    expect(after).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': before.tags['count(*)'] + 1, 'sum(*)': before.tags['sum(*)'] + 10 } });
  });

  it('seeds every live aggregate from the read model, re-seeds it after DELETE and DROP METRIC, and pushes what changed', async () => {
    await write('shop', [
      { timestamp: 10, value: 1, tags: { item: 'a' } },
      { timestamp: 20, value: 2, tags: { item: 'a' } },
      { timestamp: 30, value: 5, tags: { item: 'b' } },
    ]);
    const socket = await open();
    const counts = await socket.subscribe(sub('shop', 'select count(*) from shop group by item'));
    const firsts = await socket.subscribe(sub('shop', 'select first(value) from shop group by item'));
    const lasts = await socket.subscribe(sub('shop', 'select last(value) from shop group by item'));
    const distinct = await socket.subscribe(sub('shop', 'select count(distinct value) from shop group by item'));
    const total = await socket.subscribe(sub('shop', 'select count(*), sum(value) from shop'));
    expect(firsts.records).toEqual([{ timestamp: 0, value: 1, dimensions: {}, tags: { item: 'a' } }, { timestamp: 0, value: 5, dimensions: {}, tags: { item: 'b' } }]);
    // The seeded state goes on: an earlier point is the new first, a later one the new last, a repeated value no new distinct one.
    await write('shop', [{ timestamp: 5, value: 9, tags: { item: 'a' } }, { timestamp: 40, value: 2, tags: { item: 'a' } }]);
    expect(await socket.records(firsts.quid, 1)).toEqual([{ timestamp: 0, value: 9, dimensions: {}, tags: { item: 'a' } }]);
    expect(await socket.records(lasts.quid, 1)).toEqual([{ timestamp: 0, value: 2, dimensions: {}, tags: { item: 'a' } }]);
    expect(await socket.records(distinct.quid, 1)).toEqual([{ timestamp: 0, value: 3, dimensions: {}, tags: { item: 'a' } }]);
    expect(await socket.records(counts.quid, 1)).toEqual([{ timestamp: 0, value: 4, dimensions: {}, tags: { item: 'a' } }]);
    await socket.records(total.quid, 1);
    // DELETE: the emptied group is pushed with its aggregate over nothing, the global one with its new values.
    await commands.execute(new DeleteMetricPointsCommand({ db: 'db', namespace: 'ns', metric: 'shop' }, { kind: 'compare', field: 'item', operator: '=', value: 'b' }));
    expect((await socket.records(counts.quid, 2))[1]).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { item: 'b' } });
    expect((await socket.records(total.quid, 2))[1]).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 4, 'sum(*)': 14 } });
    await commands.execute(new DeleteMetricPointsCommand({ db: 'db', namespace: 'ns', metric: 'shop' }, { kind: 'compare', field: 'timestamp', operator: '<', value: 10 }));
    expect((await socket.records(firsts.quid, 3)).slice(1)).toEqual([{ timestamp: 0, value: 0, dimensions: {}, tags: { item: 'b' } }, { timestamp: 0, value: 1, dimensions: {}, tags: { item: 'a' } }]);
    expect((await socket.records(counts.quid, 3))[2]).toEqual({ timestamp: 0, value: 3, dimensions: {}, tags: { item: 'a' } });
    expect((await socket.records(total.quid, 3))[2]).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 3, 'sum(*)': 5 } });
    await write('shop', [{ timestamp: 50, value: 7, tags: { item: 'b' } }]);
    expect((await socket.records(counts.quid, 4))[3]).toEqual({ timestamp: 0, value: 1, dimensions: {}, tags: { item: 'b' } });
    expect((await socket.records(total.quid, 4))[3]).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 4, 'sum(*)': 12 } });
    // With fromPosition, an aggregate answers its current result.
    const again = await (await open()).subscribe(sub('shop', 'select count(*) from shop group by item', { fromPosition: 1 }));
    expect(again.quid).toBe(counts.quid);
    expect(again.records).toEqual([{ timestamp: 0, value: 3, dimensions: {}, tags: { item: 'a' } }, { timestamp: 0, value: 1, dimensions: {}, tags: { item: 'b' } }]);
    // DROP METRIC: the aggregates empty, and each subscriber is told.
    await commands.execute(new DropMetricCommand({ db: 'db', namespace: 'ns', metric: 'shop' }));
    expect((await socket.records(total.quid, 5))[4]).toEqual({ timestamp: 0, value: 0, dimensions: {}, tags: { 'count(*)': 0, 'sum(*)': 0 } });
    expect(await socket.take((m) => m.quid === total.quid && typeof m.reason === 'string')).toMatchObject({ reason: expect.stringMatching(/^Metric shop does not exist/) });
  });

  it('bounds the groups of a live aggregate (LIVE_WS_MAX_GROUPS) with a clear reason', async () => {
    await write('wide', [1, 2, 3, 4, 5].map((i) => ({ timestamp: i, value: i, tags: { k: `g${i}` } })));
    const socket = await open();
    expect((await socket.subscribe(sub('wide', 'select count(*) from wide group by k'))).reason).toMatch(/too many groups: a live aggregate keeps at most 4/);
    const some = await socket.subscribe(sub('wide', 'select count(*) from wide where value <= 4 group by k'));
    expect(some.records).toHaveLength(4);
    await write('wide', [{ timestamp: 6, value: 0, tags: { k: 'g6' } }, { timestamp: 7, value: 1, tags: { k: 'g1' } }]);
    expect(await socket.take((m) => m.quid === some.quid && typeof m.reason === 'string')).toMatchObject({ reason: expect.stringMatching(/too many groups/) });
    expect(await socket.records(some.quid, 1)).toEqual([{ timestamp: 0, value: 2, dimensions: {}, tags: { k: 'g1' } }]);
  });

  it('pushes only the fields a plain select names, as its answer holds them', async () => {
    const socket = await open();
    const answer = await socket.subscribe(sub('people', "select name from people where city = 'lima'"));
    await write('people', [{ timestamp: 50_000, value: 9, dimensions: { name: 'lu', age: 3 }, tags: { city: 'lima' } }]);
    expect(await socket.records(answer.quid, 1)).toEqual([{ timestamp: 50_000, value: 9, dimensions: { name: 'lu' }, tags: {} }]);
  });

  it('pushes the new values of a DISTINCT, not whole records', async () => {
    await write('names', [
      { timestamp: 1, value: 1, dimensions: { name: 'ann' } },
      { timestamp: 2, value: 1, dimensions: { name: 'bob' } },
    ]);
    const socket = await open();
    const answer = await socket.subscribe(sub('names', 'select distinct name from names'));
    expect(answer.records).toEqual([{ timestamp: 0, value: 0, dimensions: { name: 'ann' }, tags: {} }, { timestamp: 0, value: 0, dimensions: { name: 'bob' }, tags: {} }]);
    await write('names', [{ timestamp: 3, value: 2, dimensions: { name: 'ann' } }, { timestamp: 4, value: 3, dimensions: { name: 'kim' } }, { timestamp: 5, value: 4, dimensions: { name: 'kim' } }]);
    expect(await socket.records(answer.quid, 1)).toEqual([{ timestamp: 0, value: 0, dimensions: { name: 'kim' }, tags: {} }]);
    // A value whose points are all deleted is new again when it comes back.
    await commands.execute(new DeleteMetricPointsCommand({ db: 'db', namespace: 'ns', metric: 'names' }, { kind: 'compare', field: 'name', operator: '=', value: 'bob' }));
    await write('names', [{ timestamp: 6, value: 5, dimensions: { name: 'bob' } }, { timestamp: 7, value: 6, dimensions: { name: 'kim' } }]);
    expect((await socket.records(answer.quid, 2))[1]).toEqual({ timestamp: 0, value: 0, dimensions: { name: 'bob' }, tags: {} });
    await sleep(250);
    expect(socket.pushes(answer.quid).flatMap((f) => f.message.records)).toHaveLength(2);
  });

  it('pushes a GROUP BY INTERVAL bucket once, when the clock passes its upper bound; a late record is not pushed again', async () => {
    await write('beats', [{ timestamp: 1, value: 1 }]);
    const socket = await open();
    const answer = await socket.subscribe(sub('beats', 'select count(*) from beats group by interval 1s'));
    expect(answer.quid).toEqual(expect.any(String));
    // Start right after a bucket boundary, so the records below share one bucket.
    await sleep(1000 - (Date.now() % 1000) + 20);
    const now = Date.now();
    const lower = Math.floor(now / 1000) * 1000;
    await write('beats', [{ timestamp: now, value: 1 }, { timestamp: now + 1, value: 1 }, { timestamp: now + 2, value: 1 }]);
    await sleep(150);
    expect(socket.pushes(answer.quid)).toHaveLength(0); // still open
    const [bucket] = await socket.records(answer.quid, 1, 3000);
    expect(bucket).toEqual({ timestamp: lower + 1000, value: 3, dimensions: { lowerBound: lower, upperBound: lower + 1000 }, tags: { 'count(*)': 3 } });
    expect(socket.pushes(answer.quid)[0].at).toBeGreaterThanOrEqual(lower + 1000);
    await write('beats', [{ timestamp: lower + 5, value: 1 }]); // late: its bucket was pushed
    await sleep(400);
    expect(socket.pushes(answer.quid)).toHaveLength(1);
  });

  it('shares one quid and one evaluation between sockets; unsubscribe stops that socket only', async () => {
    const a = await open();
    const b = await open();
    const first = await a.subscribe(sub('people', "SELECT * FROM people WHERE name = 'zed'"));
    const second = await b.subscribe(sub('people', "select   *   from people   where name='zed'"));
    expect(second.quid).toBe(first.quid);
    await write('people', [{ timestamp: 20_000, value: 1, dimensions: { name: 'zed' }, tags: { city: 'rome' } }]);
    await a.records(first.quid, 1);
    await b.records(first.quid, 1);
    a.send({ action: 'unsubscribe', quid: first.quid });
    expect(await a.take((m) => m.unsubscribed !== undefined)).toEqual({ quid: first.quid, unsubscribed: true });
    await write('people', [{ timestamp: 20_001, value: 2, dimensions: { name: 'zed' }, tags: { city: 'rome' } }]);
    expect((await b.records(first.quid, 2)).map((r) => r.value)).toEqual([1, 2]);
    await sleep(250);
    expect(a.pushes(first.quid).flatMap((f) => f.message.records)).toHaveLength(1);
    a.send({ action: 'unsubscribe', quid: first.quid });
    expect(await a.take((m) => m.unsubscribed !== undefined)).toMatchObject({ quid: first.quid, unsubscribed: false });
  });

  it('resumes a plain select from a position with exactly the matches after it; too far behind is a clear reason', async () => {
    const socket = await open();
    const first = await socket.subscribe(sub('people', "select * from people where city = 'rome'"));
    const all = first.records as Record<string, any>[];
    await write('people', [{ timestamp: 40_000, value: 77, dimensions: { name: 'gus' }, tags: { city: 'rome' } }]);
    const [pushed] = await socket.records(first.quid, 1);
    expect(pushed.value).toBe(77);
    const at = socket.pushes(first.quid)[0].message.position as number;
    await write('people', [
      { timestamp: 40_001, value: 78, dimensions: { name: 'hal' }, tags: { city: 'oslo' } },
      { timestamp: 40_002, value: 79, dimensions: { name: 'ida' }, tags: { city: 'rome' } },
    ]);
    const other = await open();
    const resumed = await other.subscribe(sub('people', "select * from people where city = 'rome'", { fromPosition: at }));
    expect(resumed.quid).toBe(first.quid);
    expect(resumed.records.map((r: Record<string, any>) => r.value)).toEqual([79]);
    await write('people', [{ timestamp: 40_003, value: 80, dimensions: { name: 'jo' }, tags: { city: 'rome' } }]);
    expect((await other.records(first.quid, 1)).map((r) => r.value)).toEqual([80]);
    expect(all.length).toBeGreaterThan(2);
    const far = await other.subscribe(sub('people', "select * from people where value >= 0", { fromPosition: 0 }));
    expect(far.reason).toMatch(/more than 20 records matched after position 0/);
  });

  it('bounds subscriptions per socket with a clear reason', async () => {
    const socket = await open();
    for (let i = 0; i < 5; i++) expect((await socket.subscribe(sub('people', `select * from people where value = ${1000 + i}`))).quid).toEqual(expect.any(String));
    expect((await socket.subscribe(sub('people', 'select * from people where value = 2000'))).reason).toMatch(/too many subscriptions on this socket: at most 5/);
  });

  it('closes a socket that stops reading with the slow-consumer code instead of buffering its pushes', async () => {
    const socket = await open('?retention_size=1000');
    await write('bulk', [{ timestamp: 1, value: 0 }]);
    const { quid } = await socket.subscribe(sub('bulk', 'select * from bulk where value >= 0'));
    expect(quid).toEqual(expect.any(String));
    const closed = new Promise<number>((resolve) => socket.ws.once('close', (code) => resolve(code)));
    (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const filler = 'x'.repeat(1000);
    const queries = server.app.get(QueryBus);
    const { subscribers } = await queries.execute(new LiveMetricsStatsQuery());
    // Until the server let go of the socket (its subscription ended), at most 80 batches.
    for (let i = 0; i < 80 && (await queries.execute(new LiveMetricsStatsQuery())).subscribers === subscribers; i++) {
      await write('bulk', Array.from({ length: 250 }, (_, j) => ({ timestamp: 2 + i * 250 + j, value: 1, dimensions: { filler } })));
      await sleep(20);
    }
    (socket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1013);
  });

  it('pushes a record inserted over the JET socket into db.ns.m to a live subscription', async () => {
    const socket = await open();
    const answer = await socket.subscribe(sub('people', "select * from people where name = 'jet'"));
    const jet = await JetSocket.open(`${server.url.replace(/^http/, 'ws')}/ws`);
    try {
      const inserted = await jet.request({ type: 'insert', target: 'db.ns.people', data: { timestamp: 30_000, value: 42, dimensions: { name: 'jet' }, tags: { city: 'oslo' } }, requestId: 'j1' });
      expect(inserted).toMatchObject({ type: 'insert_response', success: true });
      const [record] = await socket.records(answer.quid, 1);
      expect(record).toEqual({ timestamp: 30_000, value: 42, dimensions: { name: 'jet' }, tags: { city: 'oslo' } });
    } finally {
      jet.close();
    }
  });
});
