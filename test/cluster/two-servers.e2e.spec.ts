import { createScratchDatabase, dropScratchDatabase, withDatabase } from '../support/databases.js';
import { RawRoomClient, type Frame } from '../support/raw-client.js';
import { spawnServer, type ServerProcess } from '../support/tideline.js';

const adminUrl = process.env.DATABASE_URL;
const describeWithPostgres = adminUrl ? describe : describe.skip;

const append = (key: string, value: unknown) => ({ type: 'push', key, value, action: { type: 'append' } });
const relay = (key: string, value: unknown) => ({ type: 'push', key, value, action: { type: 'relay' } });
const bySeq = (frames: Frame[]) => frames.map((f) => [f.key, f.seq, typeof f.value === 'string' && f.value.length > 50 ? `big:${f.value.length}` : f.value]);

describeWithPostgres('two servers on one PostgreSQL', () => {
  let dbName: string;
  let a: ServerProcess;
  let b: ServerProcess;
  const clients: RawRoomClient[] = [];

  beforeAll(async () => {
    dbName = await createScratchDatabase(adminUrl!);
    const env = { DATABASE_URL: withDatabase(adminUrl!, dbName) };
    a = await spawnServer(env);
    b = await spawnServer(env);
  });

  afterAll(async () => {
    clients.forEach((c) => c.close());
    await Promise.all([a?.stop(), b?.stop()]);
    await dropScratchDatabase(adminUrl!, dbName);
  });

  async function connect(server: ServerProcess, room: string): Promise<RawRoomClient> {
    const client = await RawRoomClient.connect(`${server.url.replace('http', 'ws')}/room/${room}/connect`);
    clients.push(client);
    return client;
  }

  it('clients of one room on either server see the same pushes, in the same order, with the same seqs', async () => {
    const { room } = (await (await fetch(`${a.url}/new`, { method: "POST" })).json()) as { room: string };
    expect((await fetch(`${b.url}/room/${room}`)).status).toBe(200);
    const onA = await connect(a, room);
    const onB = await connect(b, room);
    const bigRelay = 'x'.repeat(200_000); // far over NOTIFY's 8 kB payload cap
    for (let i = 0; i < 10; i++) {
      onA.send(append('k', `a${i}`));
      onB.send(append('k', `b${i}`));
    }
    onA.send(relay('cursor', 'from-a'));
    onB.send(relay('cursor', 'from-b'));
    onA.send(relay('blob', bigRelay));
    const sent = await fetch(`${b.url}/room/${room}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(append('k', 'via-http-b')) });
    expect(sent.status).toBe(200);

    const expected = 24; // 21 appends + 3 relays
    await onA.waitFor(() => onA.pushes().length >= expected, 20_000);
    await onB.waitFor(() => onB.pushes().length >= expected, 20_000);
    const seenA = onA.pushes();
    const seenB = onB.pushes();
    expect(seenA).toHaveLength(expected);
    expect(seenB).toHaveLength(expected);

    // Stored messages: one order and one numbering everywhere.
    const storedA = seenA.filter((f) => f.key === 'k');
    expect(bySeq(storedA)).toEqual(bySeq(seenB.filter((f) => f.key === 'k')));
    expect(storedA.map((f) => f.seq)).toEqual([...storedA.map((f) => f.seq)].sort((x, y) => x - y));
    // Every number issued once, relays included; the big relay crossed servers whole.
    expect(new Set(seenA.map((f) => f.seq)).size).toBe(expected);
    expect(bySeq(seenA).sort()).toEqual(bySeq(seenB).sort());
    expect(seenB.find((f) => f.key === 'blob')?.value).toBe(bigRelay);
    // The history agrees too.
    expect((await onB.get('k')).data.map((d: Frame) => d.seq)).toEqual(storedA.map((f) => f.seq));
  });

  it('an HTTP get on one server holds the push the other just acknowledged, with no waiting for the log tail', async () => {
    const { room } = (await (await fetch(`${a.url}/new`, { method: 'POST' })).json()) as { room: string };
    const get = async (server: ServerProcess) => {
      const response = await fetch(`${server.url}/room/${room}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'get', key: 'h', seq: 0 }) });
      return ((await response.json()) as { data: Frame[] }).data.map((d) => d.value);
    };
    expect(await get(b)).toEqual([]); // B's view of the room exists from now on
    for (let i = 0; i < 5; i++) {
      const sent = await fetch(`${a.url}/room/${room}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(append('h', i)) });
      expect(sent.status).toBe(200); // acknowledged by A
      expect(await get(b)).toEqual(Array.from({ length: i + 1 }, (_, j) => j));
    }
  });

  it('killing one server loses nothing acknowledged; its clients resume on the other with get', async () => {
    const { room } = (await (await fetch(`${a.url}/new`, { method: "POST" })).json()) as { room: string };
    const onA = await connect(a, room);
    const watcherOnB = await connect(b, room);
    for (let i = 0; i < 50; i++) onA.send(append('log', i));
    await onA.waitFor(() => onA.pushes().length >= 20);
    await a.kill9();
    const acknowledged = onA.pushes().map((f) => f.seq);
    expect(acknowledged.length).toBeGreaterThanOrEqual(20);

    const resumed = await connect(b, room);
    // B hears A's commits from the log tail, a moment after A acknowledged them: ask again until it has (or 10 s).
    let history: number[] = [];
    for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
      history = (await resumed.get('log')).data.map((d: Frame) => d.seq);
      if (acknowledged.every((seq) => history.includes(seq)) || Date.now() > deadline) break;
    }
    for (const seq of acknowledged) expect(history).toContain(seq);
    expect(history).toEqual([...history].sort((x, y) => x - y));
    // The survivor keeps numbering above everything issued.
    resumed.send(append('log', 'after'));
    await resumed.waitFor(() => resumed.pushes().some((f) => f.value === 'after'));
    const after = resumed.pushes().find((f) => f.value === 'after')!;
    expect(after.seq).toBeGreaterThan(Math.max(...history));
    await watcherOnB.waitFor(() => watcherOnB.pushes().some((f) => f.value === 'after'));
  });
});
