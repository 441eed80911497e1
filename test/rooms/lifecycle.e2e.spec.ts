import WebSocket from 'ws';
import { RawRoomClient } from '../support/raw-client.js';
import { spawnServer, tempDataDir, type ServerProcess } from '../support/tideline.js';

const append = (value: unknown) => ({ type: 'push', key: 'k', value, action: { type: 'append' } });

describe('server lifecycle (PGlite, own process)', () => {
  const data = tempDataDir();
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  afterAll(() => data.remove());

  it('on SIGTERM closes sockets with 1001, shuts down within its grace period, and keeps every acknowledged push', async () => {
    server = await spawnServer({ DATA_DIR: data.dir });
    const { room } = (await (await fetch(`${server.url}/new`, { method: 'POST' })).json()) as { room: string };
    const client = await RawRoomClient.connect(`${server.url.replace('http', 'ws')}/room/${room}/connect`);
    for (let i = 0; i < 200; i++) client.send(append(i));
    await client.waitFor(() => client.pushes().length >= 10);
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    const stopped = server.stop();
    expect(await closed).toBe(1001);
    await stopped;
    // Nest re-raises the signal once shut down; a SIGKILL would mean the grace period ran out.
    expect(server.child.signalCode ?? server.child.exitCode).toBe('SIGTERM');
    const acknowledged = client.pushes().map((f) => f.seq);

    server = await spawnServer({ DATA_DIR: data.dir });
    const reader = await RawRoomClient.connect(`${server.url.replace('http', 'ws')}/room/${room}/connect`);
    const history = (await reader.get('k')).data.map((d: { seq: number }) => d.seq);
    for (const seq of acknowledged) expect(history).toContain(seq);
    reader.close();
  });

  it('ends a connection that stops answering pings', async () => {
    server = await spawnServer({ DATA_DIR: data.dir, HEARTBEAT_MS: '500' });
    const { room } = (await (await fetch(`${server.url}/new`, { method: 'POST' })).json()) as { room: string };
    const url = `${server.url.replace('http', 'ws')}/room/${room}/connect`;
    const silent = new WebSocket(url, { autoPong: false });
    const alive = await RawRoomClient.connect(url);
    let pings = 0;
    alive.ws.on('ping', () => pings++);
    const closed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
    silent.on('error', () => undefined);
    expect(await closed).toBe(1006); // terminated: no close frame for a peer that went quiet
    // A client that answers pings stays connected, however many beats go by.
    await alive.waitFor(() => pings >= 3);
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    alive.send({ type: 'ping', nonce: 1 });
    await alive.waitFor((frames) => frames.some((f) => f.type === 'pong'));
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    alive.close();
  });
});
