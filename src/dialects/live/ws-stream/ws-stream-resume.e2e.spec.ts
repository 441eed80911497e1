import WebSocket from 'ws';
import { createScratchDatabase, dropScratchDatabase, withDatabase } from '../../../../test/support/databases.js';
import { spawnServer, tempDataDir, type ServerProcess } from '../../../../test/support/tideline.js';

type Message = Record<string, any>;

/** A `/ws-stream` client that keeps every frame. */
async function openSocket(url: string): Promise<{ ws: WebSocket; frames: Message[]; next: (match: (m: Message) => boolean, timeoutMs?: number) => Promise<Message> }> {
  const ws = new WebSocket(url);
  const frames: Message[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async (match: (m: Message) => boolean, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = frames.findIndex(match);
      if (i >= 0) return frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching frame; have ${JSON.stringify(frames).slice(0, 600)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { ws, frames, next };
}

const close = (ws: WebSocket) =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise<void>((resolve) => (ws.once('close', () => resolve()), ws.close()));

async function bit(server: ServerProcess, n: number, host: string): Promise<void> {
  const response = await fetch(`${server.url}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ db: 'db', namespace: 'ns', metric: 'meter', bit: { timestamp: n, value: n, dimensions: {}, tags: { host } } }),
  });
  expect(response.status).toBe(200);
}

describe('/ws-stream resume: fromPosition continues a plain select with no gap and no duplicate, across a server restart', () => {
  let env: Record<string, string>;
  let cleanup = async () => {};
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    const url = process.env.DATABASE_URL;
    if (url) {
      const name = await createScratchDatabase(url);
      env = { DATABASE_URL: withDatabase(url, name) };
      cleanup = () => dropScratchDatabase(url, name);
    } else {
      const dir = tempDataDir('tideline-ws-resume-');
      env = { DATA_DIR: dir.dir };
      cleanup = async () => dir.remove();
    }
  });
  afterAll(async () => {
    for (const server of servers) await server.stop();
    await cleanup();
  });

  it('answers exactly the matches after the position, then pushes live', async () => {
    const query = { db: 'db', namespace: 'ns', metric: 'meter', queryString: "select * from meter where host = 'a'" };
    const first = await spawnServer(env);
    servers.push(first);
    await bit(first, 1, 'a');
    await bit(first, 2, 'b');
    const a = await openSocket(`${first.url.replace(/^http/, 'ws')}/ws-stream`);
    a.ws.send(JSON.stringify(query));
    const answer = await a.next((m) => m.quid !== undefined && m.queryString !== undefined);
    expect(answer.records.map((r: Message) => r.value)).toEqual([1]);
    await bit(first, 3, 'a');
    const push = await a.next((m) => m.quid === answer.quid && m.position !== undefined && m.queryString === undefined);
    expect(push.records.map((r: Message) => r.value)).toEqual([3]);
    const resumeAt = push.position as number;
    await close(a.ws);
    // Missed while away: two matches and one that does not match, then the server restarts.
    await bit(first, 4, 'a');
    await bit(first, 5, 'b');
    await bit(first, 6, 'a');
    await first.stop();
    servers.splice(servers.indexOf(first), 1);

    const second = await spawnServer(env);
    servers.push(second);
    await bit(second, 7, 'a');
    const b = await openSocket(`${second.url.replace(/^http/, 'ws')}/ws-stream`);
    b.ws.send(JSON.stringify({ ...query, fromPosition: resumeAt }));
    const resumed = await b.next((m) => m.quid !== undefined && m.queryString !== undefined);
    expect(resumed.records.map((r: Message) => r.value)).toEqual([4, 6, 7]);
    await bit(second, 8, 'a');
    await bit(second, 9, 'b');
    await bit(second, 10, 'a');
    const live: number[] = [];
    while (live.length < 2) {
      const next = await b.next((m) => m.quid === resumed.quid && m.position !== undefined && m.queryString === undefined);
      live.push(...next.records.map((r: Message) => r.value));
    }
    expect(live).toEqual([8, 10]);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.frames).toEqual([]); // no duplicate came later
    await close(b.ws);
  });
});
