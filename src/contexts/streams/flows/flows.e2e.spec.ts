import { CommandBus, QueryBus } from '@nestjs/cqrs';
import WebSocket from 'ws';
import type { RunningTideline } from '../../../app.factory.js';
import { Database } from '../../../core/database/database.js';
import { ProjectionStatusQuery, RebuildProjectionCommand } from '../../../core/projections/application/projection-queries.js';
import { instantiate, type JsonValue, type PipelinePlan } from '../../../core/query/index.js';
import { parseJet } from '../../../dialects/jet/parser/index.js';
import { backends } from '../../../../test/support/databases.js';
import { useServersOnOneDatabase } from '../../../../test/support/tideline.js';

type Message = Record<string, any>;

const backend = backends().at(-1)!;

async function post(server: RunningTideline, query: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}/api/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return { status: response.status, body: await response.json() };
}

async function ok(server: RunningTideline, query: string): Promise<any> {
  const answer = await post(server, query);
  if (answer.status !== 200) throw new Error(`${query}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/**
 * The records of `stream` from its first offset, once there are at least `count` (and none arrived for
 * `quietMs` after that: a flow that writes too much is caught too).
 */
async function records(server: RunningTideline, stream: string, count: number, quietMs = 400): Promise<{ offset: number; data: Message }[]> {
  const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/ws`);
  const got: { offset: number; data: Message }[] = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as Message;
    if (m.type === 'data') got.push({ offset: m.offset, data: m.data });
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  try {
    ws.send(JSON.stringify({ type: 'subscribe', streamName: stream, fromOffset: 'earliest', requestId: 'r' }));
    const deadline = Date.now() + 10_000;
    while (got.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, quietMs));
    return got;
  } finally {
    ws.close();
  }
}


/** What the plan writes with insert_into over `input` (offsets 1…), run in memory without a break. */
function uninterrupted(plan: PipelinePlan, input: JsonValue[]): JsonValue[] {
  const runtime = instantiate(plan, { onError: () => undefined });
  return input.flatMap((record, i) => runtime.push(record, { offset: i + 1, time: 0 }).flatMap((o) => (o.kind === 'sink' ? [o.record] : [])));
}

describe('flows: durable JET pipelines (create flow … | insert_into, delete flow, _log)', () => {
  const db = useServersOnOneDatabase('tideline-flows-');
  let server: RunningTideline;
  beforeAll(async () => {
    server = await db.start();
  });

  it('runs a filter into its target from the records inserted after it, lists it, and stops when deleted', async () => {
    await ok(server, 'create stream s; create stream out');
    await ok(server, 'insert into s {v: 100}'); // before the flow: not its business
    expect(await post(server, 'create flow f as s | where v > 0 | insert_into(out)')).toEqual({
      status: 200,
      body: expect.objectContaining({ success: true, type: 'flow', message: "Flow 'f' created", flowName: 'f', sourceName: 's' }),
    });
    expect((await post(server, 'create flow f as s | insert_into(out)')).body.error.code).toBe('FLOW_EXISTS');
    expect((await post(server, 'create flow g as s | insert_into(nowhere)')).body.error).toMatchObject({ code: 'STREAM_NOT_FOUND', message: "Stream 'nowhere' does not exist" });
    expect((await post(server, 'create flow g as nowhere | insert_into(out)')).body.error.code).toBe('STREAM_NOT_FOUND');
    await ok(server, 'insert into s [{v: 1}, {v: -1}, {v: 2}]');
    expect((await records(server, 'out', 2)).map((r) => r.data)).toEqual([{ v: 1 }, { v: 2 }]);

    const listed = await ok(server, 'list flows');
    expect(listed.result.result.flows).toEqual([expect.objectContaining({ flowName: 'f', sourceName: 's', sinks: ['out'], status: 'active', query: expect.stringContaining('where v > 0') })]);
    expect(listed.message).toBe('Found 1 active flow(s):\n1. f: s -> out');
    const status = async () => ((await (await fetch(`${server.url}/api/status`)).json()) as Message).activeQueries;
    expect(await status()).toBe(1);

    expect((await ok(server, 'delete flow f')).result).toMatchObject({ type: 'command', message: "Flow 'f' deleted successfully", result: { flowName: 'f' } });
    expect((await post(server, 'delete flow f')).body.error.code).toBe('FLOW_NOT_FOUND');
    await ok(server, 'insert into s {v: 3}');
    expect((await records(server, 'out', 2, 800)).map((r) => r.data)).toEqual([{ v: 1 }, { v: 2 }]);
    expect((await ok(server, 'list flows')).result.result.flows).toEqual([]);
    expect(await status()).toBe(0);
  });

  it('logs a record that fails to _log with its offset, and goes on', async () => {
    await ok(server, 'create stream p_in; create stream p_out');
    await ok(server, 'create flow p as p_in | select { ...payload } | insert_into(p_out)');
    await ok(server, 'insert into p_in [{payload: {a: 1}}, {payload: "bad"}, {payload: {a: 3}}]');
    expect((await records(server, 'p_out', 2)).map((r) => r.data)).toEqual([{ a: 1 }, { a: 3 }]);
    const log = (await records(server, '_log', 1)).map((r) => r.data).filter((d) => d.flow === 'p');
    expect(log).toEqual([{ timestamp: expect.any(String), level: 'error', code: 'FLOW_RECORD_FAILED', message: expect.stringContaining('cannot spread'), flow: 'p', offset: 2 }]);
  });

  it('says in _log when its target stream was deleted, instead of dropping the records quietly', async () => {
    await ok(server, 'create stream m_in; create stream m_out');
    await ok(server, 'create flow m as m_in | insert_into(m_out)');
    await ok(server, 'delete stream m_out');
    await ok(server, 'insert into m_in [{v: 1}, {v: 2}]');
    const deadline = Date.now() + 10_000;
    let logged: Message[] = [];
    while (logged.length === 0 && Date.now() < deadline) logged = (await records(server, '_log', 1, 100)).map((r) => r.data).filter((d) => d.flow === 'm');
    expect(logged.length).toBeGreaterThan(0);
    for (const entry of logged) expect(entry).toMatchObject({ level: 'error', code: 'FLOW_TARGET_MISSING', message: expect.stringContaining("Stream 'm_out' does not exist") });
  });

  it('emits its open windows on flush of its source, in order among the records', async () => {
    await ok(server, 'create stream fl_in; create stream fl_out');
    await ok(server, 'create flow fl as fl_in | summarize { n: count(), total: sum(v) } over count_window(10) | insert_into(fl_out)');
    await ok(server, 'insert into fl_in [{v: 1}, {v: 2}, {v: 3}]');
    expect((await ok(server, 'flush fl_in')).result.result).toEqual({ streamName: 'fl_in', flushedQueries: 1 });
    await ok(server, 'insert into fl_in [{v: 10}]');
    await ok(server, 'flush fl_in');
    expect((await records(server, 'fl_out', 2)).map((r) => r.data)).toEqual([
      { n: 3, total: 6 },
      { n: 1, total: 10 },
    ]);
  });

  it('rebuilt, starts over with no state: what it writes equals the live run, nothing twice', async () => {
    await ok(server, 'create stream rb_in; create stream rb_out');
    await ok(server, 'create flow rb as rb_in | summarize { n: count(), total: sum(v) } over count_window(3) | insert_into(rb_out)');
    await ok(server, 'insert into rb_in [{v: 1}, {v: 2}, {v: 3}, {v: 4}]');
    await records(server, 'rb_out', 1);
    const [name] = (await server.app.get(QueryBus).execute(new ProjectionStatusQuery())).map((p) => p.name).filter((n) => n.startsWith('flow:rb:'));
    await server.app.get(CommandBus).execute(new RebuildProjectionCommand(name));
    await ok(server, 'insert into rb_in [{v: 5}, {v: 6}]');
    expect((await records(server, 'rb_out', 2)).map((r) => r.data)).toEqual([
      { n: 3, total: 6 },
      { n: 3, total: 15 },
    ]);
  });

  it('follows its source when the stream is replaced, and its dead state rows are dropped', async () => {
    await ok(server, 'create stream rs_in; create stream rs_out');
    await ok(server, 'create flow rs as rs_in | summarize { n: count() } over count_window(2) | insert_into(rs_out)');
    await ok(server, 'insert into rs_in [{v: 1}]'); // an open window, left behind with the old stream
    await ok(server, 'create or replace stream rs_in');
    await ok(server, 'insert into rs_in [{v: 2}, {v: 3}]');
    expect((await records(server, 'rs_out', 1)).map((r) => r.data)).toEqual([{ n: 2 }]);
    expect((await ok(server, 'list flows')).result.result.flows).toEqual(expect.arrayContaining([expect.objectContaining({ flowName: 'rs' })]));

    await ok(server, 'delete flow rs');
    const states = async () => (await server.app.get(Database).query<{ flow: string }>(`SELECT flow FROM stream_flow_states WHERE flow LIKE 'flow:rs:%'`)).length;
    const deadline = Date.now() + 5000;
    while ((await states()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await states()).toBe(0);
  });

  it('closes an arrival-time window when its time passes, with no later record (a tick in the log)', async () => {
    await ok(server, 'create stream tk_in; create stream tk_out');
    await ok(server, 'create flow tk as tk_in | summarize { n: count() } over tumbling_window(1s) | insert_into(tk_out)');
    await ok(server, 'insert into tk_in [{v: 1}, {v: 2}]');
    expect((await records(server, 'tk_out', 1)).map((r) => r.data)).toEqual([{ n: 2 }]);
  });

  it('ends a flow when its ttl passes', async () => {
    await ok(server, 'create stream t_in; create stream t_out');
    const created = await ok(server, 'create flow t ttl(1s) as t_in | insert_into(t_out)');
    expect(created).toMatchObject({ flowName: 't', ttlSeconds: 1 });
    const named = async () => ((await ok(server, 'list flows')).result.result.flows as Message[]).filter((f) => f.flowName === 't');
    expect(await named()).toEqual([expect.objectContaining({ ttlSeconds: 1, expiresAt: expect.any(String) })]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await named()).toEqual([]);
  });
});

describe('flows: a windowed flow interrupted by a restart', () => {
  const db = useServersOnOneDatabase('tideline-flows-');

  it('writes exactly what an uninterrupted run writes', async () => {
    const query = 'create flow w as w_in | summarize { n: count(), total: sum(v), first: first(v) } over count_window(3) | insert_into(w_out)';
    const input = Array.from({ length: 10 }, (_, i) => ({ v: i + 1 }));
    let server = await db.start();
    await ok(server, 'create stream w_in; create stream w_out');
    await ok(server, query);
    await ok(server, `insert into w_in [${input.slice(0, 4).map((r) => JSON.stringify(r)).join(', ')}]`);
    await records(server, 'w_out', 1); // the first window has closed
    await db.stop(server);

    server = await db.start();
    for (const record of input.slice(4)) await ok(server, `insert into w_in ${JSON.stringify(record)}`);
    const plan = (parseJet(query)[0] as { pipeline: PipelinePlan }).pipeline;
    const expected = uninterrupted(plan, input);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect((await records(server, 'w_out', expected.length)).map((r) => r.data)).toEqual(expected);
  });
});

describe('flows: bounds', () => {
  const db = useServersOnOneDatabase('tideline-flows-', { MAX_FLOWS: '1', FLOW_MAX_GROUPS: '2' });

  it('refuses a flow past MAX_FLOWS, and pauses one whose groups pass the bound, with an error in _log', async () => {
    const server = await db.start();
    await ok(server, 'create stream g_in; create stream g_out');
    await ok(server, 'create flow g as g_in | summarize { k: k, n: count() } by k over count_window(4) | insert_into(g_out)');
    expect((await post(server, 'create flow h as g_in | insert_into(g_out)')).body.error.code).toBe('TOO_MANY_FLOWS');
    await ok(server, 'insert into g_in [{k: 1}, {k: 2}, {k: 1}, {k: 3}, {k: 1}, {k: 2}, {k: 1}, {k: 2}]');
    const log = (await records(server, '_log', 1)).map((r) => r.data).filter((d) => d.flow === 'g');
    expect(log).toEqual([expect.objectContaining({ level: 'error', code: 'FLOW_PAUSED', flow: 'g', offset: 4, message: expect.stringContaining('groups') })]);
    expect((await ok(server, 'list flows')).result.result.flows).toEqual([expect.objectContaining({ flowName: 'g', status: 'paused', error: expect.stringContaining('groups') })]);
    expect(await records(server, 'g_out', 0)).toEqual([]);
  });
});

(backend.name === 'postgres' ? describe : describe.skip)('flows: two servers on one PostgreSQL', () => {
  const db = useServersOnOneDatabase('tideline-flows-');

  it('runs each flow in one of them, and the other takes it over when that one stops', async () => {
    const servers = [await db.start(), await db.start()];
    const [a, b] = servers;
    await ok(a, 'create stream x_in; create stream x_out');
    await ok(a, 'create flow x as x_in | where v % 2 == 0 | insert_into(x_out)');
    for (let v = 1; v <= 6; v++) await ok(v % 2 ? a : b, `insert into x_in {v: ${v}}`);
    expect((await records(b, 'x_out', 3)).map((r) => r.data.v)).toEqual([2, 4, 6]);
    const owns = async (server: RunningTideline) => {
      const health = (await (await fetch(`${server.url}/health`)).json()) as Message;
      const [, status] = Object.entries(health.details.projections as Record<string, Message>).find(([name]) => name.startsWith('flow:x:'))!;
      return status.owned as boolean;
    };
    const owned = await Promise.all(servers.map(owns));
    expect(owned.filter(Boolean)).toHaveLength(1);
    const [owner, other] = owned[0] ? [a, b] : [b, a];
    await db.stop(owner);
    for (let v = 7; v <= 10; v++) await ok(other, `insert into x_in {v: ${v}}`);
    expect((await records(other, 'x_out', 5)).map((r) => [r.offset, r.data.v])).toEqual([
      [1, 2],
      [2, 4],
      [3, 6],
      [4, 8],
      [5, 10],
    ]);
    expect(await owns(other)).toBe(true);
  });
});
