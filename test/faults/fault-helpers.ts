import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { decode as decodeCbor, encode as encodeCbor } from 'cborg';
import WebSocket from 'ws';
import { createScratchDatabase, dropScratchDatabase, withDatabase } from '../support/databases.js';
import { spawnServer, tempDataDir, type Env, type ServerProcess } from '../support/tideline.js';

/** A server message as the tests see it (decoded JSON or CBOR). */
export type Msg = { type: string; [field: string]: any };

/**
 * Everything a test starts (servers, sockets, clusters, folders) registers its stop here; `run()` (in
 * afterEach/afterAll) stops them newest first, even when the test failed half-way.
 */
export class Cleanup {
  private readonly tasks: (() => unknown)[] = [];

  add(task: () => unknown): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const task of this.tasks.splice(0).reverse()) {
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Where a spawned server keeps its data: a PGlite folder, or a scratch PostgreSQL database. */
export type ServerBackend = { name: 'pglite' | 'postgres'; prepare: (cleanup: Cleanup) => Promise<Env> };

/** PGlite always; PostgreSQL (a scratch database, dropped afterwards) when DATABASE_URL is set. */
export function serverBackends(): ServerBackend[] {
  const list: ServerBackend[] = [
    {
      name: 'pglite',
      prepare: async (cleanup) => {
        const data = tempDataDir('tideline-fault-');
        cleanup.add(() => data.remove());
        return { DATA_DIR: data.dir };
      },
    },
  ];
  const url = process.env.DATABASE_URL;
  if (url) {
    list.push({
      name: 'postgres',
      prepare: async (cleanup) => {
        const name = await createScratchDatabase(url);
        cleanup.add(() => dropScratchDatabase(url, name));
        return { DATABASE_URL: withDatabase(url, name) };
      },
    });
  }
  return list;
}

/** Spawns a server and registers its SIGKILL with `cleanup`. */
export async function spawnTracked(cleanup: Cleanup, env: Env): Promise<ServerProcess> {
  const server = await spawnServer(env);
  cleanup.add(() => server.kill9());
  return server;
}

export type RoomInfo = { room: string; socket_url: string; http_url: string };

export async function createRoom(baseUrl: string): Promise<RoomInfo> {
  const response = await fetch(`${baseUrl}/new`, { method: 'POST' });
  if (response.status !== 200) throw new Error(`POST /new answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as RoomInfo;
}

/** The socket URL of a room on a (possibly restarted, so differently numbered) server. */
export function socketUrl(baseUrl: string, room: string, cbor = false): string {
  return `${baseUrl.replace(/^http/, 'ws')}/room/${encodeURIComponent(room)}/connect${cbor ? '?cbor=true' : ''}`;
}

/** `exactKeys`: decode CBOR maps to objects with own properties only (a key like "__proto__" stays a key); slower. */
export function decodeServerFrame(data: Buffer, isBinary: boolean, exactKeys = false): Msg {
  if (!isBinary) return JSON.parse(data.toString('utf8')) as Msg;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return (exactKeys ? plain(decodeCbor(bytes, { useMaps: true })) : decodeCbor(bytes)) as Msg;
}

// Globals read once: inside Jest's sandbox every read of a global is slow, and these run very often.
const { isArray } = Array;
const { keys: keysOf, defineProperty } = Object;
const stringify = JSON.stringify;
const JsMap = Map;
const U8 = Uint8Array;
const NodeBuffer = Buffer;

function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof JsMap) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) defineProperty(out, k, { value: plain(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (isArray(value)) return value.map(plain);
  return value;
}

type Waiter = { match: (m: Msg) => boolean; resolve: (m: Msg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/**
 * A raw `ws` connection to a room. Messages are decoded and handed to listeners; `waitFor` resolves with
 * the next matching message, or rejects at its deadline or when the socket closes first.
 */
export class RoomClient {
  readonly closed: Promise<{ code: number; reason: string }>;
  closeCode: number | undefined;
  received = 0;
  private readonly listeners = new Set<(m: Msg) => void>();
  private readonly waiters = new Set<Waiter>();

  private constructor(
    readonly ws: WebSocket,
    readonly cbor: boolean,
    private readonly exactKeys: boolean,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.received++;
      let msg: Msg;
      try {
        msg = decodeServerFrame(data, isBinary, this.exactKeys);
      } catch (error) {
        msg = { type: '__undecodable__', error: (error as Error).message, raw: data.subarray(0, 200).toString('hex') };
      }
      for (const listener of this.listeners) listener(msg);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(msg)) {
          this.waiters.delete(waiter);
          clearTimeout(waiter.timer);
          waiter.resolve(msg);
        }
      }
    });
    ws.on('error', () => undefined); // the close event follows and carries what matters
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeCode = code;
        for (const waiter of this.waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`socket closed (${code}) while waiting`));
        }
        this.waiters.clear();
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  static async open(
    url: string,
    { cbor = false, cleanup, maxPayload, exactKeys = false }: { cbor?: boolean; cleanup?: Cleanup; maxPayload?: number; exactKeys?: boolean } = {},
  ): Promise<RoomClient> {
    const full = cbor && !url.includes('cbor=true') ? `${url}${url.includes('?') ? '&' : '?'}cbor=true` : url;
    const ws = new WebSocket(full, { maxPayload: maxPayload ?? 256 * 1024 * 1024 });
    const client = new RoomClient(ws, cbor, exactKeys);
    cleanup?.add(() => client.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return client;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  on(listener: (m: Msg) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a message in this connection's format. */
  send(message: unknown): void {
    this.ws.send(this.cbor ? encodeCbor(message as never) : JSON.stringify(message));
  }

  sendRaw(data: string | Buffer | Uint8Array, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  waitFor(match: (m: Msg) => boolean, timeoutMs = 15_000, what = 'a message'): Promise<Msg> {
    if (this.closeCode !== undefined) return Promise.reject(new Error(`socket already closed (${this.closeCode})`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** `get` a key and wait for its `init` (frames of one connection are answered in order). */
  async get(key: string, timeoutMs = 15_000): Promise<{ value: unknown; seq: number }[]> {
    const init = this.waitFor((m) => (m.type === 'init' && m.key === key) || m.type === 'error', timeoutMs, `init for ${key}`);
    this.send({ type: 'get', key, seq: 0 });
    const reply = await init;
    if (reply.type === 'error') throw new Error(`get ${key}: ${reply.message}`);
    return reply.data;
  }

  /** A ping round trip: every frame sent before it has been handled once the pong is back. */
  async sync(timeoutMs = 15_000): Promise<void> {
    const nonce = Math.floor(Math.random() * 1e9);
    const pong = this.waitFor((m) => m.type === 'pong' && m.nonce === nonce, timeoutMs, `pong ${nonce}`);
    this.send({ type: 'ping', nonce });
    await pong;
  }

  terminate(): void {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/** How a process ended (exit code or signal), waiting up to `ms` for it; undefined while it runs. */
export async function exitOf(child: ChildProcess, ms = 0): Promise<number | string | undefined> {
  const now = () => child.exitCode ?? child.signalCode ?? undefined;
  if (now() !== undefined || ms === 0) return now();
  await within(new Promise((resolve) => child.once('exit', resolve)), ms, undefined);
  return now();
}

/** Whether a spawned server still answers: its process runs and /health gets any HTTP answer. */
export async function answers(server: ServerProcess): Promise<boolean> {
  if ((await exitOf(server.child)) !== undefined) return false;
  try {
    await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5000) });
    return true;
  } catch {
    await exitOf(server.child, 2000);
    return false;
  }
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (undefined once it is gone). */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A TCP port that was free a moment ago (bound to 127.0.0.1, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `promise`'s value, or `fallback` if it takes longer than `ms` (the timer never outlives the call). */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value other than undefined, or throws at the deadline. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * Lines of server output that show an error escaping to the log: unhandled rejections, uncaught
 * exceptions, ERROR-level log lines, stack frames.
 */
export function troubleIn(output: string, { warnings = false } = {}): string[] {
  // Nest colours its log lines; strip ANSI codes before matching.
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
  return plain
    .split('\n')
    .filter(
      (line) =>
        /unhandled|uncaught/i.test(line) ||
        /\bERROR\b|\bFATAL\b|^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$|^\w*Error: /.test(line) ||
        (warnings && /\bWARN\b/.test(line)),
    );
}

/**
 * A value as a string with object keys sorted (JSONB reorders keys) and byte strings spelled out: two
 * values are equal when these strings are.
 */
export function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return stringify(value);
  if (value instanceof U8) return `bytes(${NodeBuffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')})`;
  if (isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const record = value as Record<string, unknown>;
  return `{${keysOf(record)
    .sort()
    .map((k) => `${stringify(k)}:${canonical(record[k])}`)
    .join(',')}}`;
}

/**
 * A WebSocket client made by hand on a raw TCP socket: it does the handshake, then reads nothing until
 * `drain()` is called (a reader that stopped reading, down to the kernel's receive buffer).
 */
export class RawSocketReader {
  private readonly chunks: Buffer[] = [];
  private constructor(readonly socket: Socket) {}

  static async connect(port: number, path: string, cleanup?: Cleanup): Promise<RawSocketReader> {
    const socket = connect({ host: '127.0.0.1', port });
    const reader = new RawSocketReader(socket);
    cleanup?.add(() => socket.destroy());
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => resolve());
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let head = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) return reject(new Error(`handshake answered ${status}`));
        reader.chunks.push(head.subarray(end + 4));
        resolve();
      };
      socket.on('data', onData);
      socket.once('end', () => reject(new Error('connection ended during the handshake')));
    });
    return reader;
  }

  /**
   * Reads everything until the server ends the connection; returns what it sent, frame by frame: the
   * number of data frames, their payloads (server frames are not masked), and the close frame's code.
   */
  async drain(timeoutMs = 30_000): Promise<{ bytes: number; dataFrames: number; payloads: Buffer[]; closeCode?: number }> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not end the connection within ${timeoutMs} ms`)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
      this.socket.once('end', done);
      this.socket.once('close', done);
      this.socket.resume();
    });
    const all = Buffer.concat(this.chunks);
    const payloads: Buffer[] = [];
    let closeCode: number | undefined;
    for (let at = 0, frame = readFrameHeader(all, at); frame; at = frame.end, frame = readFrameHeader(all, at)) {
      // A frame cut off by the server ending the connection has no header here: the loop stops.
      if (frame.opcode === 0x8) closeCode = frame.length >= 2 ? all.readUInt16BE(frame.payloadAt) : 1005;
      else if (frame.opcode === 0x1 || frame.opcode === 0x2) payloads.push(all.subarray(frame.payloadAt, frame.end));
    }
    return { bytes: all.length, dataFrames: payloads.length, payloads, closeCode };
  }
}

export type FrameHeader = { fin: boolean; rsv: number; opcode: number; masked: boolean; length: number; payloadAt: number; end: number };

/** The WebSocket frame starting at `at` in `bytes` (mask key skipped), or undefined if the frame is not all there. */
export function readFrameHeader(bytes: Buffer, at: number): FrameHeader | undefined {
  if (at + 2 > bytes.length) return undefined;
  const masked = (bytes[at + 1] & 0x80) !== 0;
  let length = bytes[at + 1] & 0x7f;
  let offset = at + 2;
  if (length === 126) {
    if (offset + 2 > bytes.length) return undefined;
    length = bytes.readUInt16BE(offset);
    offset += 2;
  } else if (length === 127) {
    if (offset + 8 > bytes.length) return undefined;
    length = Number(bytes.readBigUInt64BE(offset));
    offset += 8;
  }
  if (masked) offset += 4;
  if (offset + length > bytes.length) return undefined;
  return { fin: (bytes[at] & 0x80) !== 0, rsv: bytes[at] & 0x70, opcode: bytes[at] & 0x0f, masked, length, payloadAt: offset, end: offset + length };
}
