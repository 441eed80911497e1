import { HttpConnection, type RoomResult } from 'driftdb';
import { backends } from '../support/databases.js';
import {
  apiBase,
  eventually,
  installWebSocketGlobal,
  officialClient,
  OfficialClient,
  useRoomsServer,
  within,
} from '../support/driftdb.js';

/**
 * The Rooms dialect as the official `driftdb` 1.0.12 client from npm sees it, over real sockets and
 * HTTP, against an in-process server on each backend.
 */
installWebSocketGlobal();

describe.each(backends())('Rooms with the official driftdb client ($name)', (backend) => {
  const fx = useRoomsServer(backend);
  const { closer } = fx;

  const newRoom = async (): Promise<RoomResult> => within(fx.api.newRoom(), 15_000, 'Api.newRoom');

  describe('Api', () => {
    it('newRoom gives a room with socket and HTTP URLs on this server, and getRoom gives the same back', async () => {
      const room = await newRoom();
      expect(room.room).toEqual(expect.any(String));
      const host = new URL(fx.server.url).host;
      expect(room.socket_url).toBe(`ws://${host}/room/${room.room}/connect`);
      expect(room.http_url).toBe(`http://${host}/room/${room.room}/send`);
      expect(await fx.api.getRoom(room.room)).toEqual(room);
      // Two rooms are two rooms.
      expect((await newRoom()).room).not.toBe(room.room);
    });

    it('getRoom of an unknown room is a 404 in DriftDB error shape', async () => {
      const response = await fetch(`${apiBase(fx.server)}room/no-such-room`);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ type: 'error', message: expect.any(String) });
    });
  });

  describe.each([
    ['JSON', false],
    ['CBOR', true],
  ])('socket in %s mode', (_mode, cbor) => {
    it('subscribe replays the retained history, then delivers live pushes to every connection', async () => {
      const { socket_url } = await newRoom();
      const writer = await officialClient(closer, socket_url, cbor);
      const own = await writer.subscribeAndReplay('chat');
      expect(own.values).toEqual([]);

      writer.push('chat', { text: 'hello' }, 'append');
      writer.push('chat', { text: 'world' }, 'append');
      // The sender hears its own pushes, with the seqs the server gave, and the stream size.
      await eventually(() =>
        expect(own.values).toEqual([
          { seq: 1, value: { text: 'hello' } },
          { seq: 2, value: { text: 'world' } },
        ]),
      );
      await eventually(() => expect(own.sizes).toEqual([2]));

      // A later connection gets the history on subscribe, then the next push live.
      const reader = await officialClient(closer, socket_url, cbor);
      const seen = await reader.subscribeAndReplay('chat');
      expect(seen.values).toEqual([
        { seq: 1, value: { text: 'hello' } },
        { seq: 2, value: { text: 'world' } },
      ]);
      writer.push('chat', { text: '!' }, 'append');
      await eventually(() => expect(seen.values.at(-1)).toEqual({ seq: 3, value: { text: '!' } }));
      await eventually(() => expect(own.values.at(-1)).toEqual({ seq: 3, value: { text: '!' } }));
      // Size reports go to the sender only.
      await eventually(() => expect(own.sizes).toEqual([2, 3]));
      // A size report wrongly sent to the reader would be on its socket before the pong to this ping.
      await within(reader.db.testLatency()!, 15_000, 'reader ping');
      expect(seen.sizes).toEqual([]);
    });

    it('append, replace, relay and compact as another connection sees them', async () => {
      const { socket_url } = await newRoom();
      const writer = await officialClient(closer, socket_url, cbor);
      const watcher = await officialClient(closer, socket_url, cbor);
      const live = await watcher.subscribeAndReplay('k');
      const own = await writer.subscribeAndReplay('k');

      writer.push('k', 'a', 'append'); // 1
      writer.push('k', 'b', 'append'); // 2
      writer.push('k', 'cursor', 'relay'); // 3: broadcast, not kept
      writer.push('k', 'c', 'append'); // 4
      await eventually(() =>
        expect(live.values).toEqual([
          { seq: 1, value: 'a' },
          { seq: 2, value: 'b' },
          { seq: 3, value: 'cursor' },
          { seq: 4, value: 'c' },
        ]),
      );
      const history = async () => (await officialClient(closer, socket_url, cbor).then((c) => c.subscribeAndReplay('k'))).values;
      expect(await history()).toEqual([
        { seq: 1, value: 'a' },
        { seq: 2, value: 'b' },
        { seq: 4, value: 'c' },
      ]);

      // Compact folds entries up to seq 2 into one value under seq 2; it is not broadcast.
      writer.push('k', 'ab', { type: 'compact', seq: 2 });
      writer.push('k', 'd', 'append'); // 5: heard after the compact would have been
      await eventually(() => expect(live.values.at(-1)).toEqual({ seq: 5, value: 'd' }));
      expect(live.values.map((v) => v.value)).toEqual(['a', 'b', 'cursor', 'c', 'd']);
      expect(await history()).toEqual([
        { seq: 2, value: 'ab' },
        { seq: 4, value: 'c' },
        { seq: 5, value: 'd' },
      ]);

      // Replace keeps only itself.
      writer.push('k', 'z', 'replace'); // 6
      await eventually(() => expect(live.values.at(-1)).toEqual({ seq: 6, value: 'z' }));
      expect(await history()).toEqual([{ seq: 6, value: 'z' }]);

      // Keys are separate streams sharing the room's numbering.
      writer.push('other', 1, 'append'); // 7
      writer.push('k', 'y', 'append'); // 8
      await eventually(() => expect(live.values.at(-1)).toEqual({ seq: 8, value: 'y' }));
      expect(live.values.map((v) => v.value)).not.toContain(1);
      expect(await history()).toEqual([
        { seq: 6, value: 'z' },
        { seq: 8, value: 'y' },
      ]);
      // The sender was told the retained size after each push that left more than one entry
      // (b, the relay, c, the compact, d, y).
      await eventually(() => expect(own.sizes).toEqual([2, 2, 3, 2, 3, 2]));
    });

    it('a reconnect after the server dropped the socket keeps working (the client never re-sends get)', async () => {
      // Dropping is forced with a frame over MAX_MESSAGE_BYTES (the server closes with 1009); the client
      // then reconnects on its own, in CBOR mode to `…?cbor=true?cbor=true`.
      const { socket_url } = await newRoom();
      const client = await officialClient(closer, socket_url, cbor);
      const received = await client.subscribeAndReplay('k');
      client.push('k', 'before', 'append');
      await eventually(() => expect(received.values).toEqual([{ seq: 1, value: 'before' }]));

      const dropped = new Promise<void>((resolve) => client.db.statusListener.addListener((s) => s.connected || resolve()));
      client.push('k', 'x'.repeat(2 * 1024 * 1024), 'append');
      await within(dropped, 15_000, 'server dropping the socket');
      await eventually(() => expect(client.connected).toBe(true), { what: 'client reconnecting' });
      if (cbor) expect(client.db.connection!.url).toMatch(/\?cbor=true\?cbor=true$/);

      client.push('k', 'after', 'append');
      await eventually(() => expect(received.values.at(-1)).toEqual({ seq: 2, value: 'after' }));
      const fresh = await officialClient(closer, socket_url, cbor);
      expect((await fresh.subscribeAndReplay('k')).values).toEqual([
        { seq: 1, value: 'before' },
        { seq: 2, value: 'after' },
      ]);
    });

    it('values of every JSON kind come back as sent, live, from history and over HTTP', async () => {
      const values: unknown[] = [
        null, true, false, 0, -1, 1.5, 0.1 + 0.2, 2 ** 53 - 1, -(2 ** 53) + 1, 1e21, 5e-324, 1.7976931348623157e308,
        '', 'ünïcödé 🌊 \u2028 "quotes" \\ back', [], {}, [[[]]], { a: { b: { c: [1, 'x', null] } } },
        // Objects shaped like the server's own storage markers are the client's data too.
        { $bytes: 'AQID' }, { $object: { $bytes: 'AQID' } }, { $bytes: 1, other: 2 },
      ];
      const { socket_url, http_url } = await newRoom();
      const writer = await officialClient(closer, socket_url, cbor);
      const live = await writer.subscribeAndReplay('v');
      for (const value of values) writer.push('v', value, 'append');
      await eventually(() => expect(live.values).toHaveLength(values.length));
      expect(live.values.map((v) => v.value)).toEqual(values);
      const reader = await officialClient(closer, socket_url, cbor);
      expect((await reader.subscribeAndReplay('v')).values.map((v) => v.value)).toEqual(values);
      const overHttp = (await new HttpConnection(http_url).send({ type: 'get', key: 'v' })) as { data: { value: unknown }[] };
      expect(overHttp.data.map((v) => v.value)).toEqual(values);
    });

    it('sends what was queued before the socket opened', async () => {
      const { socket_url } = await newRoom();
      const client = closer.add(new OfficialClient(), (c) => c.close());
      const received = client.subscribe('early');
      client.push('early', 'queued', 'append');
      await client.connect(socket_url, cbor);
      await eventually(() => expect(received.values).toEqual([{ seq: 1, value: 'queued' }]));
      expect(client.inits('early')).toHaveLength(1);
    });

    it('testLatency measures a ping/pong round trip', async () => {
      const { socket_url } = await newRoom();
      const client = await officialClient(closer, socket_url, cbor);
      const latency = await within(client.db.testLatency()!, 15_000, 'testLatency');
      expect(typeof latency).toBe('number');
      expect(latency).toBeGreaterThanOrEqual(0);
      expect(client.messages.filter((m) => m.type === 'pong')).toHaveLength(1);
      // A second test after the first finished gets its own pong.
      await within(client.db.testLatency()!, 15_000, 'second testLatency');
      expect(client.messages.filter((m) => m.type === 'pong')).toHaveLength(2);
    });
  });

  describe('byte strings', () => {
    it('a Uint8Array inside a value survives CBOR, and JSON readers get it as numbers', async () => {
      const { socket_url, http_url } = await newRoom();
      const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
      const writer = await officialClient(closer, socket_url, true);
      const cborReader = await officialClient(closer, socket_url, true);
      const jsonReader = await officialClient(closer, socket_url, false);
      const cborLive = await cborReader.subscribeAndReplay('blob');
      const jsonLive = await jsonReader.subscribeAndReplay('blob');

      writer.push('blob', { name: 'file', bytes, nested: [{ bytes }] }, 'append');
      await eventually(() => expect(cborLive.values).toHaveLength(1));
      await eventually(() => expect(jsonLive.values).toHaveLength(1));

      const asCbor = cborLive.values[0] as { seq: number; value: { name: string; bytes: Uint8Array; nested: { bytes: Uint8Array }[] } };
      expect(asCbor.seq).toBe(1);
      expect(asCbor.value.name).toBe('file');
      expect(asCbor.value.bytes).toBeInstanceOf(Uint8Array);
      expect(Array.from(asCbor.value.bytes)).toEqual(Array.from(bytes));
      expect(Array.from(asCbor.value.nested[0].bytes)).toEqual(Array.from(bytes));
      expect(jsonLive.values[0]).toEqual({ seq: 1, value: { name: 'file', bytes: Array.from(bytes), nested: [{ bytes: Array.from(bytes) }] } });

      // Stored: a new CBOR subscriber gets bytes back from history, a JSON one and HTTP get numbers.
      const later = await officialClient(closer, socket_url, true);
      const replayed = (await later.subscribeAndReplay('blob')).values[0] as { value: { bytes: Uint8Array } };
      expect(replayed.value.bytes).toBeInstanceOf(Uint8Array);
      expect(Array.from(replayed.value.bytes)).toEqual(Array.from(bytes));
      const overHttp = await new HttpConnection(http_url).send({ type: 'get', key: 'blob' });
      expect(overHttp).toEqual({ type: 'init', key: 'blob', data: [{ seq: 1, value: { name: 'file', bytes: Array.from(bytes), nested: [{ bytes: Array.from(bytes) }] } }] });
    });

    it('an object shaped like the stored form of bytes, beside real bytes, stays an object', async () => {
      const { socket_url, http_url } = await newRoom();
      const writer = await officialClient(closer, socket_url, true);
      const live = await writer.subscribeAndReplay('v');
      const sent = { real: new Uint8Array([1]), fake: { $bytes: 'AQID' }, wrapped: { $object: { $bytes: 'AQID' } } };
      writer.push('v', sent, 'append');
      await eventually(() => expect(live.values).toHaveLength(1));
      const check = (value: unknown, bytes: (b: unknown) => void) => {
        const v = value as typeof sent;
        bytes(v.real);
        expect(v.fake).toEqual({ $bytes: 'AQID' });
        expect(v.wrapped).toEqual({ $object: { $bytes: 'AQID' } });
      };
      const asBytes = (b: unknown) => expect(Array.from(b as Uint8Array)).toEqual([1]);
      check(live.values[0].value, asBytes);
      const reader = await officialClient(closer, socket_url, true);
      check((await reader.subscribeAndReplay('v')).values[0].value, asBytes);
      const overHttp = (await new HttpConnection(http_url).send({ type: 'get', key: 'v' })) as { data: { value: unknown }[] };
      check(overHttp.data[0].value, (b) => expect(b).toEqual([1]));
    });
  });

  describe('HttpConnection', () => {
    it('sends pushes and gets streams over HTTP, and socket subscribers see HTTP pushes', async () => {
      const { socket_url, http_url } = await newRoom();
      const http = new HttpConnection(http_url);
      const watcher = await officialClient(closer, socket_url);
      const live = await watcher.subscribeAndReplay('kv');

      expect(await http.send({ type: 'push', key: 'kv', value: { v: 1 }, action: { type: 'append' } })).toBeNull();
      expect(await http.send({ type: 'push', key: 'kv', value: { v: 2 }, action: { type: 'append' } })).toEqual({ type: 'stream_size', key: 'kv', size: 2 });
      await eventually(() =>
        expect(live.values).toEqual([
          { seq: 1, value: { v: 1 } },
          { seq: 2, value: { v: 2 } },
        ]),
      );

      expect(await http.send({ type: 'get', key: 'kv', seq: 0 })).toEqual({
        type: 'init',
        key: 'kv',
        data: [
          { seq: 1, value: { v: 1 } },
          { seq: 2, value: { v: 2 } },
        ],
      });
      // Only entries strictly after the given seq; no seq means from the start.
      expect(await http.send({ type: 'get', key: 'kv', seq: 1 })).toEqual({ type: 'init', key: 'kv', data: [{ seq: 2, value: { v: 2 } }] });
      expect(await http.send({ type: 'get', key: 'kv' })).toMatchObject({ data: [{ seq: 1 }, { seq: 2 }] });
      expect(await http.send({ type: 'get', key: 'never-written' })).toEqual({ type: 'init', key: 'never-written', data: [] });

      // Replace as a key/value store, and a socket push read back over HTTP.
      expect(await http.send({ type: 'push', key: 'kv', value: 'only', action: { type: 'replace' } })).toBeNull();
      watcher.push('kv', 'from-socket', 'append');
      await eventually(() => expect(live.values.at(-1)).toEqual({ seq: 4, value: 'from-socket' }));
      expect(await http.send({ type: 'get', key: 'kv' })).toEqual({
        type: 'init',
        key: 'kv',
        data: [
          { seq: 3, value: 'only' },
          { seq: 4, value: 'from-socket' },
        ],
      });
      expect(await http.send({ type: 'ping', nonce: 7 })).toEqual({ type: 'pong', nonce: 7 });
    });

    it('rejects a message the server refuses (HTTP 400), like the client does for any non-2xx', async () => {
      const { http_url } = await newRoom();
      await expect(new HttpConnection(http_url).send({ type: 'push', key: 'k', value: 1, action: { type: 'compact', seq: 99 } })).rejects.toThrow(/HTTP error 400/);
    });
  });
});
