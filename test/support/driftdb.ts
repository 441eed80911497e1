import { decode as decodeCbor, encode as encodeCbor } from 'cborg';
import { Api, DbConnection, type MessageFromDb, type SequenceValue } from 'driftdb';
import WebSocket, { type RawData } from 'ws';
import type { Backend } from './databases.js';
import { startInProcess, tempDataDir, type Env } from './tideline.js';

/**
 * Helpers for the Rooms (DriftDB) end-to-end tests: the official `driftdb` client made usable on
 * Node 20, a raw `ws` client for what that client cannot express, polling waits, and cleanup.
 */

/** The official client uses the browser's global `WebSocket`, which Node 20 lacks: give it `ws`. */
export function installWebSocketGlobal(): void {
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
}

// ---------------------------------------------------------------------------------------------
// Waiting without sleeping

export type WaitOptions = { timeoutMs?: number; intervalMs?: number; what?: string };

/**
 * Polls `check` until it returns without throwing (an `expect` inside is fine) and returns its
 * result; on the deadline, rethrows the last failure so the test shows what was missing.
 */
export async function eventually<T>(check: () => T | Promise<T>, { timeoutMs = 15_000, intervalMs = 20, what }: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) {
        if (what && error instanceof Error) error.message = `${what}: ${error.message}`;
        throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Rejects if `promise` has not settled within `timeoutMs` (so a lost reply fails instead of hanging). */
export function within<T>(promise: Promise<T>, timeoutMs = 15_000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Cleanup

/** Everything a test opened, closed in reverse order by `closeAll` (call it in afterEach/afterAll). */
export class Closer {
  private readonly closers: (() => unknown)[] = [];

  add<T>(resource: T, close: (resource: T) => unknown): T {
    this.closers.push(() => close(resource));
    return resource;
  }

  async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Where a server keeps its data for one backend: a scratch database, or a PGlite data folder. */
export type ServerStore = { name: Backend['name']; env: Env; cleanup: () => Promise<void> };

/**
 * A store for in-process servers. Several servers started with the same `env` share the data (the
 * restart test relies on it); PGlite lives in a fresh temporary DATA_DIR (DATA_DIR/pglite).
 */
export async function serverStore(backend: Backend): Promise<ServerStore> {
  const target = await backend.target();
  if (target.kind === 'postgres') return { name: backend.name, env: { DATABASE_URL: target.url }, cleanup: () => backend.cleanup() };
  const { dir, remove } = tempDataDir('tideline-rooms-');
  return {
    name: backend.name,
    env: { DATA_DIR: dir },
    cleanup: async () => {
      await backend.cleanup();
      remove();
    },
  };
}

export type Server = { url: string; port: number; close: () => Promise<void> };

/** An in-process server on the store (quiet logs, ephemeral port). `extra` overrides settings. */
export async function startServer(store: ServerStore, extra: Env = {}): Promise<Server> {
  const running = await startInProcess({ ...store.env, ...extra });
  return { url: running.url, port: running.port, close: () => running.close() };
}

/** The base URL the official `Api` takes: the server's root, ending with `/`. */
export const apiBase = (server: Server) => `${server.url}/`;

// ---------------------------------------------------------------------------------------------
// The official client

export type Received = { values: SequenceValue[]; sizes: number[] };

/**
 * The official `DbConnection`, plus a record of every message it got, and a `close` that also stops
 * a pending reconnect (`disconnect` alone leaves the 1 s reconnect timer armed after a drop).
 */
export class OfficialClient {
  readonly db = new DbConnection();
  readonly messages: MessageFromDb[] = [];

  constructor() {
    this.db.messageListener.addListener((message) => this.messages.push(message));
  }

  /** Opens the socket (`connect(url, cbor)`; CBOR mode appends `?cbor=true`). */
  connect(socketUrl: string, cbor: boolean): Promise<void> {
    return within(this.db.connect(socketUrl, cbor), 15_000, `connect to ${socketUrl}`);
  }

  /** Subscribes to `key` (the client sends `get {seq: 0}`) and records what the listeners hear. */
  subscribe(key: string): Received {
    const received: Received = { values: [], sizes: [] };
    this.db.subscribe(
      key,
      (value) => received.values.push(value),
      (size) => received.sizes.push(size),
    );
    return received;
  }

  /** The `init` replies received for `key`, in order. */
  inits(key: string): Extract<MessageFromDb, { type: 'init' }>[] {
    return this.messages.filter((m): m is Extract<MessageFromDb, { type: 'init' }> => m.type === 'init' && m.key === key);
  }

  /** Subscribes and waits for the history reply (`init`), returning the recorder. */
  async subscribeAndReplay(key: string): Promise<Received> {
    const before = this.inits(key).length;
    const received = this.subscribe(key);
    await eventually(() => expect(this.inits(key).length).toBeGreaterThan(before), { what: `init for ${key}` });
    return received;
  }

  push(key: string, value: unknown, action: 'append' | 'replace' | 'relay' | { type: 'compact'; seq: number }): void {
    this.db.send({ type: 'push', key, value, action: typeof action === 'string' ? { type: action } : action });
  }

  get connected(): boolean {
    return this.db.status.connected;
  }

  close(): void {
    // `disconnect` drops the client's error handler; an error after it (closing while a reconnect is
    // still connecting) would then be an uncaught 'error' event on the `ws` socket.
    (this.db.connection as unknown as WebSocket | null)?.on('error', () => undefined);
    this.db.disconnect();
    if (this.db.reconnectLoopHandle) clearTimeout(this.db.reconnectLoopHandle);
    this.db.reconnectLoopHandle = null;
  }
}

/** A connected official client, closed by `closer`. */
export async function officialClient(closer: Closer, socketUrl: string, cbor = false): Promise<OfficialClient> {
  const client = closer.add(new OfficialClient(), (c) => c.close());
  await client.connect(socketUrl, cbor);
  return client;
}

// ---------------------------------------------------------------------------------------------
// A raw socket, for what the official client cannot say or show

export type ServerFrame = { type: string; [field: string]: unknown };

/** Decodes CBOR as the server encodes it (byte strings come back as `Uint8Array`). */
export const fromCbor = (data: Uint8Array) => decodeCbor(data) as ServerFrame;
export const toCbor = (value: unknown) => encodeCbor(value);

export class RawSocket {
  /** Every frame received, decoded (text as JSON, binary as CBOR), with its kind. */
  readonly frames: { binary: boolean; message: ServerFrame }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Socket errors (e.g. a reset while the server closes on an oversized frame); kept, not thrown. */
  readonly errors: Error[] = [];
  private cursor = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const message = isBinary ? fromCbor(buffer) : (JSON.parse(buffer.toString('utf8')) as ServerFrame);
      this.frames.push({ binary: isBinary, message });
    });
    ws.on('error', (error) => this.errors.push(error));
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string): Promise<RawSocket> {
    const ws = new WebSocket(url);
    const socket = new RawSocket(ws);
    return within(
      new Promise<RawSocket>((resolve, reject) => {
        ws.once('open', () => resolve(socket));
        ws.once('error', reject);
      }),
      15_000,
      `open ${url}`,
    );
  }

  get messages(): ServerFrame[] {
    return this.frames.map((f) => f.message);
  }

  sendJson(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendCbor(message: unknown): void {
    this.ws.send(toCbor(message));
  }

  sendBinary(data: Uint8Array): void {
    this.ws.send(data);
  }

  /** The next frame (after those already taken) matching `match`; frames skipped on the way are taken. */
  async next(match: (m: ServerFrame) => boolean = () => true, timeoutMs = 15_000): Promise<ServerFrame> {
    return eventually(
      () => {
        for (let i = this.cursor; i < this.frames.length; i++) {
          if (match(this.frames[i].message)) {
            this.cursor = i + 1;
            return this.frames[i].message;
          }
        }
        throw new Error(`no matching frame; received: ${JSON.stringify(this.messages.slice(this.cursor))}`);
      },
      { timeoutMs, what: 'waiting for a frame' },
    );
  }

  nextOfType(type: string, timeoutMs?: number): Promise<ServerFrame> {
    return this.next((m) => m.type === type, timeoutMs);
  }

  /** Sends a ping with a fresh nonce and waits for its pong: the connection is alive and in order. */
  async roundTrip(cbor = false): Promise<void> {
    const nonce = Math.floor(Math.random() * 1e9);
    if (cbor) this.sendCbor({ type: 'ping', nonce });
    else this.sendJson({ type: 'ping', nonce });
    await this.next((m) => m.type === 'pong' && m.nonce === nonce);
  }

  close(): Promise<unknown> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close();
    // A peer that never answers the close handshake must not hold the test up.
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    return this.closed.finally(() => clearTimeout(timer));
  }
}

export async function rawSocket(closer: Closer, url: string): Promise<RawSocket> {
  const socket = await RawSocket.open(url);
  return closer.add(socket, (s) => s.close());
}

/** Tries a WebSocket upgrade that the server should refuse; resolves with the HTTP status it gave. */
export function refusedUpgrade(url: string): Promise<number> {
  const ws = new WebSocket(url);
  return within(
    new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        response.resume();
        ws.terminate();
      });
      ws.once('open', () => {
        ws.terminate();
        reject(new Error(`upgrade to ${url} was accepted`));
      });
      ws.on('error', (error) => reject(error)); // (a no-op once settled)
    }),
    15_000,
    `upgrade to ${url}`,
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP

export async function postJson(url: string, body: string, contentType = 'application/json'): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/**
 * An in-process server on `backend` for one describe block: started before its tests and stopped after,
 * with the sockets and clients each test registers on `closer` closed after that test.
 */
export function useRoomsServer(backend: Backend, extra: Env = {}): { readonly server: Server; readonly api: Api; readonly closer: Closer } {
  const fixture = { closer: new Closer() } as { server: Server; api: Api; closer: Closer };
  let store: ServerStore | undefined;
  beforeAll(async () => {
    store = await serverStore(backend);
    fixture.server = await startServer(store, extra);
    fixture.api = new Api(apiBase(fixture.server));
  });
  afterEach(() => fixture.closer.closeAll());
  afterAll(async () => {
    await fixture.server?.close();
    await store?.cleanup();
  });
  return fixture;
}
