/**
 * A lean WebSocket client for the load processes (RFC 6455, text frames, no extensions). The load
 * generators share 2 cores with the server under test, so they must be cheap per frame: this client parses
 * frames straight out of the socket's chunks and hands the payload as (buffer, start, end) without
 * allocating a message or emitting an event per frame, which costs several times less CPU than `ws`.
 * The servers measured see an ordinary WebSocket client (masked frames, no compression).
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export type FrameHandler = (buf: Buffer, start: number, end: number) => void;

export class LeanSocket {
  /** Called for every complete text/binary message. */
  onFrame: FrameHandler = () => undefined;
  onClose: () => void = () => undefined;
  closed = false;
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.parse(chunk));
    const done = () => {
      if (this.closed) return;
      this.closed = true;
      this.onClose();
    };
    socket.on('close', done);
    socket.on('error', done);
  }

  static open(url: string, timeoutMs = 15_000): Promise<LeanSocket> {
    const u = new URL(url);
    const key = randomBytes(16).toString('base64');
    const expect = createHash('sha1').update(key + GUID).digest('base64');
    return new Promise((resolve, reject) => {
      const socket = connect({ host: u.hostname, port: Number(u.port || 80) });
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new Error(`WebSocket handshake timed out (${url})`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.destroy();
        reject(e);
      };
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return head.length > 16384 ? fail(new Error('oversized handshake response')) : undefined;
        const text = head.subarray(0, end).toString('latin1');
        const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
        if (status !== '101') return fail(new Error(`upgrade refused: HTTP ${status ?? '?'} ${text.split('\r\n')[0]}`));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
        if (accept !== expect) return fail(new Error('bad Sec-WebSocket-Accept'));
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('close', onEarlyClose);
        const ws = new LeanSocket(socket);
        const rest = head.subarray(end + 4);
        resolve(ws);
        if (rest.length) ws.parse(rest);
      };
      const onEarlyClose = () => fail(new Error(`connection closed during handshake (${url})`));
      socket.on('data', onData);
      socket.once('error', fail);
      socket.once('close', onEarlyClose);
      socket.once('connect', () =>
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
    });
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Sends a text message (masked, as a client must). */
  send(text: string): void {
    if (this.closed) return;
    this.writeFrame(0x1, Buffer.from(text, 'utf8'));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      try {
        this.writeFrame(0x8, Buffer.from([0x03, 0xe8]));
        this.socket.end();
      } catch {
        /* ignore */
      }
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 1000).unref();
    });
  }

  terminate(): void {
    this.socket.destroy();
  }

  private writeFrame(opcode: number, payload: Buffer): void {
    const len = payload.length;
    const headLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headLen + 4 + len);
    frame[0] = 0x80 | opcode;
    if (len < 126) frame[1] = 0x80 | len;
    else if (len < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(len), 2);
    }
    const m = (Math.random() * 0x100000000) >>> 0;
    frame.writeUInt32BE(m, headLen);
    const maskAt = headLen;
    const dataAt = headLen + 4;
    for (let i = 0; i < len; i++) frame[dataAt + i] = payload[i] ^ frame[maskAt + (i & 3)];
    this.socket.write(frame);
  }

  private parse(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const b0 = buf[off];
      const b1 = buf[off + 1];
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        head = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) head += 4;
      if (n - off < head + len) break;
      const start = off + head;
      const end = start + len;
      if (masked) for (let i = 0; i < len; i++) buf[start + i] ^= buf[off + head - 4 + (i & 3)];
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x1 || opcode === 0x2) {
        if (fin) this.onFrame(buf, start, end);
        else this.fragments = [Buffer.from(buf.subarray(start, end))];
      } else if (opcode === 0x0 && this.fragments) {
        this.fragments.push(Buffer.from(buf.subarray(start, end)));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.onFrame(whole, 0, whole.length);
        }
      } else if (opcode === 0x9) {
        this.writeFrame(0xa, Buffer.from(buf.subarray(start, end)));
      } else if (opcode === 0x8) {
        this.socket.end();
      }
      off = end;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off));
  }
}

const needles = new Map<string, Buffer>();

/**
 * The number in `"<name>": <number>` inside buf[start, end), or NaN. No JSON.parse, no message string.
 * Tolerates whitespace around the colon (a value read back from jsonb is printed as `"t": 1.5`).
 */
export function numberAt(buf: Buffer, start: number, end: number, name: string): number {
  let needle = needles.get(name);
  if (!needle) needles.set(name, (needle = Buffer.from(`"${name}"`)));
  const view = buf.subarray(start, end);
  for (let i = view.indexOf(needle); i >= 0; i = view.indexOf(needle, i + 1)) {
    let j = i + needle.length;
    while (j < view.length && (view[j] === 0x20 || view[j] === 0x09)) j++;
    if (view[j] !== 0x3a /* : */) continue;
    return parseFloat(view.toString('latin1', j + 1, Math.min(view.length, j + 40)));
  }
  return NaN;
}

/** Whether buf[start, end) contains `text`. */
export function contains(buf: Buffer, start: number, end: number, text: string): boolean {
  return buf.subarray(start, end).indexOf(text) >= 0;
}
