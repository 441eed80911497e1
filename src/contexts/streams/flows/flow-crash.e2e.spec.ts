import WebSocket from 'ws';
import { instantiate, type JsonValue, type PipelinePlan } from '../../../core/query/index.js';
import { parseJet } from '../../../dialects/jet/parser/index.js';
import { backends } from '../../../../test/support/databases.js';
import { spawnServer, tempDataDir, type ServerProcess } from '../../../../test/support/tideline.js';

/**
 * A server (built dist/main.js) killed with SIGKILL while its windowed flow is busy: the server started
 * again on the same database writes, in all, exactly what one uninterrupted run over the same records writes.
 */

type Message = Record<string, any>;

const backend = backends().at(-1)!;

async function execute(url: string, query: string): Promise<any> {
  const response = await fetch(`${url}/api/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`${query}: ${JSON.stringify(body)}`);
  return body;
}

/** Every record of `stream` in offset order, once `done(records)` holds and nothing more came for `quietMs`. */
async function readAll(url: string, stream: string, done: (records: Message[]) => boolean, quietMs = 600): Promise<Message[]> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
  const got: Message[] = [];
  let last = Date.now();
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as Message;
    if (m.type === 'data') {
      got.push({ offset: m.offset, data: m.data });
      last = Date.now();
    }
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  try {
    ws.send(JSON.stringify({ type: 'subscribe', streamName: stream, fromOffset: 'earliest', requestId: 'r' }));
    const deadline = Date.now() + 20_000;
    while ((!done(got) || Date.now() - last < quietMs) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return got;
  } finally {
    ws.close();
  }
}

describe(`a flow's server killed with SIGKILL (${backend.name})`, () => {
  let env: Record<string, string>;
  let remove = () => {};
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    if (backend.name === 'postgres') env = { DATABASE_URL: ((await backend.target()) as { url: string }).url };
    else {
      const dir = tempDataDir('tideline-flow-crash-');
      remove = dir.remove;
      env = { DATA_DIR: dir.dir };
    }
  });
  afterAll(async () => {
    for (const server of servers) await server.kill9().catch(() => undefined);
    await backend.cleanup();
    remove();
  });

  it('resumes from its committed state and checkpoint, and writes no record twice nor misses one', async () => {
    const query = 'create flow c as c_in | summarize { n: count(), total: sum(v), first: first(v) } over count_window(5) | insert_into(c_out)';
    let server = await spawnServer(env);
    servers.push(server);
    await execute(server.url, 'create stream c_in; create stream c_out');
    await execute(server.url, query);
    // Inserts in flight, one record each, and the kill in the middle of them.
    let v = 0;
    const writing = (async () => {
      for (;;) {
        try {
          await execute(server.url, `insert into c_in {v: ${++v}}`);
        } catch {
          return;
        }
      }
    })();
    while (v < 12) await new Promise((r) => setTimeout(r, 10));
    await server.kill9();
    await writing;

    server = await spawnServer(env);
    servers.push(server);
    for (let i = 0; i < 7; i++) await execute(server.url, `insert into c_in {v: ${1000 + i}}`);
    const input = (await readAll(server.url, 'c_in', () => true)).map((r) => r.data as JsonValue);
    expect(input.length).toBeGreaterThanOrEqual(11 + 7);
    const plan = (parseJet(query)[0] as { pipeline: PipelinePlan }).pipeline;
    const runtime = instantiate(plan);
    const expected = input.flatMap((record, i) => runtime.push(record, { offset: i + 1, time: 0 }).flatMap((o) => (o.kind === 'sink' ? [o.record] : [])));
    const written = await readAll(server.url, 'c_out', (records) => records.length >= expected.length);
    expect(written.map((r) => r.data)).toEqual(expected);
  }, 60_000);
});

(backend.name === 'postgres' ? describe : describe.skip)("a flow's owner killed with SIGKILL while another server shares the database", () => {
  let env: Record<string, string>;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    env = { DATABASE_URL: ((await backend.target()) as { url: string }).url };
  });
  afterAll(async () => {
    for (const server of servers) await server.kill9().catch(() => undefined);
    await backend.cleanup();
  });

  it('moves to the survivor, which goes on from the committed checkpoint with no record twice or missing', async () => {
    const a = await spawnServer(env);
    const b = await spawnServer(env);
    servers.push(a, b);
    await execute(a.url, 'create stream t_in; create stream t_out');
    await execute(a.url, 'create flow t as t_in | where v % 2 == 0 | insert_into(t_out)');
    for (let v = 1; v <= 6; v++) await execute((v % 2 ? a : b).url, `insert into t_in {v: ${v}}`);
    await readAll(b.url, 't_out', (records) => records.length >= 3);
    const owns = async (server: ServerProcess) => {
      const health = (await (await fetch(`${server.url}/health`)).json()) as Message;
      const entry = Object.entries(health.details.projections as Record<string, Message>).find(([name]) => name.startsWith('flow:t:'));
      return entry?.[1].owned === true;
    };
    const [owner, survivor] = (await owns(a)) ? [a, b] : [b, a];
    await owner.kill9();
    for (let v = 7; v <= 12; v++) await execute(survivor.url, `insert into t_in {v: ${v}}`);
    const written = await readAll(survivor.url, 't_out', (records) => records.length >= 6);
    expect(written.map((r) => [r.offset, r.data.v])).toEqual([
      [1, 2],
      [2, 4],
      [3, 6],
      [4, 8],
      [5, 10],
      [6, 12],
    ]);
    expect(await owns(survivor)).toBe(true);
  }, 60_000);
});
