import { backends } from '../support/databases.js';
import {
  eventually,
  postJson,
  rawSocket,
  refusedUpgrade,
  toCbor,
  useRoomsServer,
  type RawSocket,
} from '../support/driftdb.js';

/**
 * What the official client cannot express or show, over a raw `ws` socket and plain HTTP: refused
 * upgrades, error frames, the size limit, lenient query flags and debug mode.
 */
const MAX_MESSAGE_BYTES = 64 * 1024;

describe.each(backends())('Rooms protocol edges over a raw socket ($name)', (backend) => {
  const fx = useRoomsServer(backend, { MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES), MAX_PENDING_BYTES: String(4 * MAX_MESSAGE_BYTES) });
  const { closer } = fx;

  const push = (key: string, value: unknown, action: object = { type: 'append' }) => ({ type: 'push', key, value, action });
  const pushOf = (seq: number) => (m: { type: string; seq?: unknown }) => m.type === 'push' && m.seq === seq;

  async function connectedRoom(query = ''): Promise<{ room: string; socket: RawSocket; socketUrl: string; httpUrl: string }> {
    const { room, socket_url, http_url } = await fx.api.newRoom();
    return { room, socket: await rawSocket(closer, socket_url + query), socketUrl: socket_url, httpUrl: http_url };
  }

  describe('upgrades', () => {
    it('refuses a socket to an unknown room with 404, and still serves other rooms', async () => {
      const base = fx.server.url.replace(/^http/, 'ws');
      expect(await refusedUpgrade(`${base}/room/no-such-room/connect`)).toBe(404);
      expect(await refusedUpgrade(`${base}/room/no-such-room/connect?cbor=true`)).toBe(404);
      expect(await refusedUpgrade(`${base}/not-a-socket-path`)).toBe(404);

      const { socket } = await connectedRoom();
      await socket.roundTrip();
      socket.sendJson(push('k', 1));
      expect(await socket.nextOfType('push')).toEqual({ type: 'push', key: 'k', value: 1, seq: 1 });
      // And a refusal while a socket is open does not disturb it.
      expect(await refusedUpgrade(`${base}/room/another-missing-room/connect`)).toBe(404);
      await socket.roundTrip();
    });

    it('reads `?cbor=true?cbor=true` (what the official client reconnects to) as CBOR mode', async () => {
      const { socket } = await connectedRoom('?cbor=true?cbor=true');
      socket.sendCbor({ type: 'ping', nonce: 42 });
      expect(await socket.nextOfType('pong')).toEqual({ type: 'pong', nonce: 42 });
      socket.sendCbor(push('bin', { bytes: new Uint8Array([1, 2, 3]) }));
      const pushed = await socket.nextOfType('push');
      expect(socket.frames.every((f) => f.binary)).toBe(true);
      expect(pushed).toEqual({ type: 'push', key: 'bin', seq: 1, value: { bytes: new Uint8Array([1, 2, 3]) } });
    });

    it('JSON mode answers in text frames, and a JSON socket may still send CBOR frames', async () => {
      const { socket } = await connectedRoom();
      socket.sendJson({ type: 'ping', nonce: 'n' });
      expect(await socket.nextOfType('pong')).toEqual({ type: 'pong', nonce: 'n' });
      socket.sendBinary(toCbor(push('k', new Uint8Array([9, 8]))));
      expect(await socket.nextOfType('push')).toEqual({ type: 'push', key: 'k', seq: 1, value: [9, 8] });
      expect(socket.frames.some((f) => f.binary)).toBe(false);
    });

    it('debug mode sends every key of the room on connect, and the whole key after each change', async () => {
      const { socket: writer, socketUrl } = await connectedRoom();
      writer.sendJson(push('a', 1)); // 1
      writer.sendJson(push('a', 2)); // 2
      writer.sendJson(push('b', 'x', { type: 'replace' })); // 3
      await writer.next(pushOf(3));

      const debug = await rawSocket(closer, `${socketUrl}?debug=true`);
      const initial = [await debug.nextOfType('init'), await debug.nextOfType('init')].sort((p, q) => String(p.key).localeCompare(String(q.key)));
      expect(initial).toEqual([
        { type: 'init', key: 'a', data: [{ seq: 1, value: 1 }, { seq: 2, value: 2 }] },
        { type: 'init', key: 'b', data: [{ seq: 3, value: 'x' }] },
      ]);

      // A compaction, which ordinary readers never hear of, shows up as the key's new contents.
      writer.sendJson(push('a', 12, { type: 'compact', seq: 2 }));
      expect(await debug.nextOfType('init')).toEqual({ type: 'init', key: 'a', data: [{ seq: 2, value: 12 }] });
      writer.sendJson(push('a', 4)); // 4
      expect(await debug.nextOfType('init')).toEqual({ type: 'init', key: 'a', data: [{ seq: 2, value: 12 }, { seq: 4, value: 4 }] });
      // Flags combine, leniently too.
      const both = await rawSocket(closer, `${socketUrl}?cbor=true?debug=true`);
      const first = await both.nextOfType('init');
      expect(both.frames[0].binary).toBe(true);
      expect(['a', 'b']).toContain(first.key);
    });
  });

  describe('bad frames', () => {
    it('answers each bad frame with an error and keeps the connection usable', async () => {
      const { socket } = await connectedRoom();
      const bad: (string | object)[] = [
        '{"type": "push", "key": ',
        'not json at all',
        '42',
        '[1, 2]',
        { key: 'k', value: 1 },
        { type: 'subscribe', key: 'k' },
        { type: 'push', value: 1, action: { type: 'append' } },
        { type: 'push', key: 7, value: 1, action: { type: 'append' } },
        { type: 'push', key: 'k', value: 1 },
        { type: 'push', key: 'k', value: 1, action: { type: 'delete' } },
        { type: 'push', key: 'k', value: 1, action: { type: 'compact' } },
        { type: 'push', key: 'k', value: 'nul \u0000 inside', action: { type: 'append' } },
        { type: 'get' },
        { type: 'get', key: 'k', seq: -1 },
      ];
      for (const frame of bad) {
        if (typeof frame === 'string') socket.sendText(frame);
        else socket.sendJson(frame);
        const error = await socket.nextOfType('error');
        expect(error).toEqual({ type: 'error', message: expect.any(String) });
        expect(String(error.message).length).toBeGreaterThan(0);
        await socket.roundTrip();
      }
      // A broken CBOR frame, and a compact ahead of the room (refused by the room's rules).
      socket.sendBinary(new Uint8Array([0xff, 0x00, 0x13]));
      expect(await socket.nextOfType('error')).toEqual({ type: 'error', message: expect.stringMatching(/CBOR/) });
      socket.sendJson(push('k', 'x', { type: 'compact', seq: 5 }));
      expect(await socket.nextOfType('error')).toEqual({ type: 'error', message: expect.stringMatching(/ahead/) });

      // Nothing bad was applied, and the socket still reads and writes.
      socket.sendJson(push('k', 'fine'));
      expect(await socket.nextOfType('push')).toEqual({ type: 'push', key: 'k', value: 'fine', seq: 1 });
      socket.sendJson({ type: 'get', key: 'k' });
      expect(await socket.nextOfType('init')).toEqual({ type: 'init', key: 'k', data: [{ seq: 1, value: 'fine' }] });
      expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    });

    it('closes a frame over MAX_MESSAGE_BYTES with 1009; pushes acknowledged before it are kept', async () => {
      const { socket, socketUrl } = await connectedRoom();
      const watcher = await rawSocket(closer, socketUrl);
      socket.sendJson(push('k', 'one'));
      socket.sendJson(push('k', 'two'));
      await socket.next(pushOf(2)); // the sender's own broadcast is its acknowledgement

      socket.sendJson(push('k', 'x'.repeat(MAX_MESSAGE_BYTES + 1)));
      expect((await socket.closed).code).toBe(1009);

      // Other connections are unaffected; the history holds exactly what was acknowledged.
      await watcher.roundTrip();
      watcher.sendJson({ type: 'get', key: 'k' });
      expect(await watcher.nextOfType('init')).toEqual({ type: 'init', key: 'k', data: [{ seq: 1, value: 'one' }, { seq: 2, value: 'two' }] });
      const again = await rawSocket(closer, socketUrl);
      again.sendJson(push('k', 'three'));
      expect(await again.nextOfType('push')).toEqual({ type: 'push', key: 'k', value: 'three', seq: 3 });
      // A frame just under the limit is fine.
      again.sendJson(push('big', 'y'.repeat(MAX_MESSAGE_BYTES - 200)));
      expect(await again.next(pushOf(4))).toMatchObject({ key: 'big' });
    });
  });

  describe('HTTP send', () => {
    it('answers bad JSON, bad messages and unknown rooms with DriftDB-shaped errors', async () => {
      const { http_url } = await fx.api.newRoom();
      const error = { type: 'error', message: expect.any(String) };
      expect(await postJson(http_url, '{"type": "push", ')).toEqual({ status: 400, body: error });
      expect(await postJson(http_url, JSON.stringify({ type: 'nope' }))).toEqual({ status: 400, body: error });
      expect(await postJson(http_url, JSON.stringify({ type: 'push', value: 1, action: { type: 'append' } }))).toEqual({ status: 400, body: error });
      expect(await postJson(http_url, JSON.stringify({ type: 'push', key: 'k', value: 'z'.repeat(MAX_MESSAGE_BYTES + 1), action: { type: 'append' } }))).toEqual({
        status: 413,
        body: error,
      });
      const unknown = http_url.replace(/\/room\/[^/]+\//, '/room/no-such-room/');
      expect(await postJson(unknown, JSON.stringify({ type: 'ping' }))).toEqual({ status: 404, body: error });

      // None of that was applied; a good message still works.
      expect(await postJson(http_url, JSON.stringify({ type: 'get', key: 'k' }))).toEqual({ status: 200, body: { type: 'init', key: 'k', data: [] } });
      expect(await postJson(http_url, JSON.stringify({ type: 'push', key: 'k', value: 1, action: { type: 'append' } }))).toEqual({ status: 200, body: null });
    });
  });

  it('serves sockets and HTTP concurrently on one room without losing or reordering pushes', async () => {
    const { socket, socketUrl, httpUrl } = await connectedRoom();
    const other = await rawSocket(closer, socketUrl);
    const count = 40;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      if (i % 2 === 0) socket.sendJson(push('n', i));
      else sends.push(postJson(httpUrl, JSON.stringify(push('n', i))));
    }
    await Promise.all(sends);
    await eventually(() => expect(other.messages.filter((m) => m.type === 'push')).toHaveLength(count));
    const pushes = other.messages.filter((m) => m.type === 'push');
    expect(pushes.map((m) => m.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(new Set(pushes.map((m) => m.value)).size).toBe(count);
    // The socket's own pushes keep their order.
    const fromSocket = pushes.map((m) => m.value as number).filter((v) => v % 2 === 0);
    expect(fromSocket).toEqual([...fromSocket].sort((a, b) => a - b));
  });

  describe('flow control and history', () => {
    it('`get` with seq null sends no history (the client\'s replay: false), yet the socket hears new pushes; over HTTP it answers null', async () => {
      const { socket, httpUrl } = await connectedRoom();
      socket.sendJson(push('quiet', 'old'));
      await socket.nextOfType('push');
      socket.sendJson({ type: 'get', key: 'quiet', seq: null });
      await socket.roundTrip();
      expect(socket.messages.filter((m) => m.type === 'init')).toEqual([]);
      socket.sendJson(push('quiet', 'new'));
      expect(await socket.nextOfType('push')).toMatchObject({ key: 'quiet', value: 'new', seq: 2 });
      const answer = await postJson(httpUrl, JSON.stringify({ type: 'get', key: 'quiet', seq: null }));
      expect(answer.status).toBe(200);
      expect(answer.body).toBeNull();
      expect((await postJson(httpUrl, JSON.stringify({ type: 'get', key: 'quiet' }))).body).toMatchObject({ type: 'init', data: [{ value: 'old' }, { value: 'new' }] });
    });

    it('frames past the in-flight bound are refused after the replies of earlier frames, never before them', async () => {
      const { socket } = await connectedRoom();
      const TOTAL = 1100;
      // One TCP write: the server reads all the frames in one turn, before any of them is answered.
      const tcp = (socket.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
      tcp.cork();
      for (let i = 0; i < TOTAL; i++) socket.sendJson(push('flood', i));
      tcp.uncork();
      const refused = () => socket.messages.filter((m) => m.type === 'error').map((m) => Number(/(\d+) messages not applied/.exec(String(m.message))?.[1] ?? 1));
      const sizes = () => socket.messages.filter((m) => m.type === 'stream_size').map((m) => m.size as number);
      await eventually(() => expect((sizes().at(-1) ?? 1) + refused().reduce((a, b) => a + b, 0)).toBe(TOTAL));
      expect(refused().length).toBeGreaterThan(0);
      const firstError = socket.messages.findIndex((m) => m.type === 'error');
      // The first 1000 frames were taken before any refusal: their answers come first.
      expect(socket.messages.slice(0, firstError).filter((m) => m.type === 'stream_size').length).toBeGreaterThanOrEqual(999);
      expect(sizes()).toEqual([...sizes()].sort((a, b) => a - b));
      await socket.roundTrip();
    });

    it('bounds the bytes of frames in flight, not only their number', async () => {
      const { socket } = await connectedRoom();
      const big = 'x'.repeat(MAX_MESSAGE_BYTES - 200);
      for (let i = 0; i < 12; i++) socket.sendJson(push('big', big));
      await eventually(() => expect(socket.messages.some((m) => m.type === 'error' && /in flight/.test(String(m.message)))).toBe(true));
      await socket.roundTrip();
    });
  });
});
