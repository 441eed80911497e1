import WebSocket from 'ws';
import { Cleanup, serverBackends, spawnTracked } from './fault-helpers.js';

type Reply = { id: unknown; result?: { '@graph': Record<string, unknown>[] }; error?: { code: number; message: string } };

/** A JSON-RPC client of /sql whose requests may overlap; each resolves with its own reply. */
async function rpcSocket(url: string) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const waiting = new Map<number, (reply: Reply) => void>();
  ws.on('message', (data) => {
    const reply = JSON.parse(String(data)) as Reply;
    waiting.get(reply.id as number)?.(reply);
  });
  let nextId = 1;
  return {
    ws,
    sql(q: string, p: unknown = []): Promise<Reply> {
      const id = nextId++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'sql', params: { q, p } }));
      });
    },
  };
}

/** kill -9 with a transaction open and acknowledged writes just answered: the first are lost, the others kept. */
describe.each(serverBackends())('SQL after kill -9 on $name', (backend) => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('keeps every acknowledged statement and applies nothing of an uncommitted transaction', async () => {
    const env = await backend.prepare(cleanup);
    const first = await spawnTracked(cleanup, env);
    const url = `${first.url.replace(/^http/, 'ws')}/sql`;
    const open = await rpcSocket(url);
    const writer = await rpcSocket(url);
    expect((await open.sql('INSERT INTO accounts {id: 1, balance: 100}')).error).toBeUndefined();
    for (const q of ['BEGIN', 'INSERT INTO accounts {id: 2, balance: 5}', 'UPDATE accounts SET balance = 0 WHERE id = 1']) {
      expect((await open.sql(q)).error).toBeUndefined();
    }
    const acks = await Promise.all(Array.from({ length: 40 }, (_, i) => writer.sql('INSERT INTO accounts {id: ?, balance: 1}', [100 + i])));
    expect(acks.filter((a) => a.error)).toEqual([]);
    await first.kill9();

    const second = await spawnTracked(cleanup, env);
    const reader = await rpcSocket(`${second.url.replace(/^http/, 'ws')}/sql`);
    const rows = (await reader.sql('SELECT id, balance FROM accounts ORDER BY id')).result!['@graph'];
    expect(rows).toEqual([{ id: 1, balance: 100 }, ...Array.from({ length: 40 }, (_, i) => ({ id: 100 + i, balance: 1 }))]);
    reader.ws.close();
    await second.stop();
  }, 90_000);
});
