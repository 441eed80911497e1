import { Api, HttpConnection, type SequenceValue } from 'driftdb';
import { backends } from '../support/databases.js';
import {
  apiBase,
  Closer,
  eventually,
  installWebSocketGlobal,
  officialClient,
  serverStore,
  startServer,
  type Server,
  type ServerStore,
} from '../support/driftdb.js';

/**
 * A server stopped and started again on the same data (PGlite folder or PostgreSQL database) keeps
 * every room's history and numbers new messages above every seq issued before, relays included
 * (relays are never stored, so this is the case that can go wrong).
 */
installWebSocketGlobal();

// Once loading from the log alone, once from snapshots taken every two stored events (room state and view).
const cases = backends().flatMap((backend) => [
  { backend, name: backend.name, loading: 'from the log', env: { SNAPSHOT_EVERY: '0' } },
  { backend, name: backend.name, loading: 'from snapshots', env: { SNAPSHOT_EVERY: '2' } },
]);

describe.each(cases)('Rooms across a server restart ($name, loading $loading)', ({ backend, env }) => {
  let store: ServerStore;
  let server: Server | undefined;
  const closer = new Closer();

  beforeAll(async () => {
    store = await serverStore(backend);
  });
  afterEach(async () => {
    await closer.closeAll();
    await server?.close();
    server = undefined;
  });
  afterAll(() => store?.cleanup());

  it('keeps the history and continues numbering above it', async () => {
    // First life: appends, a replace, a compact, and relays last (the highest seqs, none stored).
    server = await startServer(store, env);
    const { room, socket_url, http_url } = await new Api(apiBase(server)).newRoom();
    const writer = await officialClient(closer, socket_url, true);
    const seen = { k: await writer.subscribeAndReplay('k'), cursor: await writer.subscribeAndReplay('cursor') };
    writer.push('k', 'a', 'append'); // 1
    writer.push('k', 'b', 'append'); // 2
    writer.push('k', { bytes: new Uint8Array([1, 2]) }, 'append'); // 3
    writer.push('doc', 'v1', 'replace'); // 4
    writer.push('doc', 'v2', 'replace'); // 5
    writer.push('k', 'ab', { type: 'compact', seq: 2 });
    writer.push('cursor', { x: 1 }, 'relay'); // 6
    writer.push('cursor', { x: 2 }, 'relay'); // 7
    await eventually(() => expect(seen.cursor.values.map((v) => v.seq)).toEqual([6, 7]));
    const issued = [...seen.k.values, ...seen.cursor.values].map((v) => v.seq);
    const lastIssued = Math.max(...issued);
    expect(lastIssued).toBe(7);
    const before = await new HttpConnection(http_url).send({ type: 'get', key: 'k' });

    await closer.closeAll();
    await server.close();
    server = undefined;

    // Second life, same data, a new port.
    server = await startServer(store, env);
    const api = new Api(apiBase(server));
    const again = await api.getRoom(room);
    expect(again.room).toBe(room);
    expect(again.socket_url).toBe(`ws://${new URL(server.url).host}/room/${room}/connect`);

    const reader = await officialClient(closer, again.socket_url, true);
    const k = await reader.subscribeAndReplay('k');
    expect(k.values.map((v) => v.seq)).toEqual([2, 3]);
    expect(k.values[0].value).toBe('ab');
    const bytes = (k.values[1].value as { bytes: Uint8Array }).bytes;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Array.from(bytes)).toEqual([1, 2]);
    expect((await reader.subscribeAndReplay('doc')).values).toEqual([{ seq: 5, value: 'v2' }]);
    expect((await reader.subscribeAndReplay('cursor')).values).toEqual([]); // relays are not kept
    expect(await new HttpConnection(again.http_url).send({ type: 'get', key: 'k' })).toEqual(before);

    // New messages of every kind are numbered above everything issued before, and keep increasing.
    const live = await reader.subscribeAndReplay('live');
    reader.push('live', 'append', 'append');
    reader.push('live', 'relay', 'relay');
    reader.push('live', 'replace', 'replace');
    await eventually(() => expect(live.values).toHaveLength(3));
    const next: SequenceValue[] = live.values;
    expect(next.map((v) => v.value)).toEqual(['append', 'relay', 'replace']);
    for (const { seq } of next) expect(seq).toBeGreaterThan(lastIssued);
    expect(next[1].seq).toBeGreaterThan(next[0].seq);
    expect(next[2].seq).toBeGreaterThan(next[1].seq);

    // A compact may still name an old seq of the key.
    reader.push('k', 'abc', { type: 'compact', seq: 3 });
    reader.push('k', 'd', 'append');
    await eventually(() => expect(k.values.at(-1)?.value).toBe('d'));
    const fresh = await officialClient(closer, again.socket_url, false);
    const replay = (await fresh.subscribeAndReplay('k')).values;
    expect(replay.map((v) => v.value)).toEqual(['abc', 'd']);
    expect(replay[0].seq).toBe(3);
    expect(replay[1].seq).toBeGreaterThan(next[2].seq);
  });

  it('a room created just before the restart, with only relays, still numbers above them', async () => {
    server = await startServer(store, env);
    const { room, socket_url, http_url } = await new Api(apiBase(server)).newRoom();
    const http = new HttpConnection(http_url);
    const sender = await officialClient(closer, socket_url);
    const heard = await sender.subscribeAndReplay('r');
    for (let i = 0; i < 3; i++) expect(await http.send({ type: 'push', key: 'r', value: i, action: { type: 'relay' } })).toBeNull();
    await eventually(() => expect(heard.values.map((v) => v.seq)).toEqual([1, 2, 3]));

    await closer.closeAll();
    await server.close();
    server = undefined;

    server = await startServer(store, env);
    const again = await new Api(apiBase(server)).getRoom(room);
    expect(again.room).toBe(room);
    const http2 = new HttpConnection(again.http_url);
    expect(await http2.send({ type: 'get', key: 'r' })).toEqual({ type: 'init', key: 'r', data: [] });
    expect(await http2.send({ type: 'push', key: 'r', value: 'kept', action: { type: 'append' } })).toBeNull();
    const after = (await http2.send({ type: 'get', key: 'r' })) as { data: SequenceValue[] };
    expect(after.data).toHaveLength(1);
    expect(after.data[0].seq).toBeGreaterThan(3);
  });
});
