import type { WebSocket } from 'ws';
import { CLOSE_TRY_AGAIN_LATER } from './close-codes.js';

/** An encoded frame, ready for any number of sockets: bytes plus the WebSocket frame type. */
export type Frame = Readonly<{ data: Buffer | Uint8Array; binary: boolean }>;

/**
 * Sends unless the socket's unsent buffer has grown past `limit`: then the socket is closed with 1013
 * (never silently skipped), and the client reconnects and re-reads what it missed.
 */
export function sendBounded(ws: WebSocket, frame: Frame, limit: number): boolean {
  if (ws.readyState !== ws.OPEN) return false;
  // What is held back by this turn's cork is about to leave; only older bytes mean the reader is behind.
  const socket = ws as unknown as Corkable;
  if (ws.bufferedAmount - (corked.get(socket) ?? 0) > limit) {
    ws.close(CLOSE_TRY_AGAIN_LATER, 'slow consumer: send buffer full');
    // A reader that stopped reading will not take the close frame either.
    setTimeout(() => ws.terminate(), 5000).unref();
    return false;
  }
  cork(socket, frame.data.byteLength);
  ws.send(frame.data, { binary: frame.binary });
  return true;
}

type Corkable = { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } };
/** Sockets corked in this turn of the event loop, with the bytes written to each since. */
const corked = new Map<Corkable, number>();

/**
 * Holds a socket's writes until the end of this turn of the event loop, so the frames a batch of events
 * produces leave in one system call per socket instead of one each (writes were most of the CPU).
 */
function cork(ws: Corkable, bytes: number): void {
  const held = corked.get(ws);
  if (held !== undefined) {
    corked.set(ws, held + bytes);
    return;
  }
  if (!ws._socket) return;
  ws._socket.cork();
  if (corked.size === 0) setImmediate(uncorkAll);
  corked.set(ws, bytes);
}

function uncorkAll(): void {
  for (const ws of corked.keys()) if (!ws._socket?.destroyed) ws._socket?.uncork();
  corked.clear();
}

/** Pings every socket of a server each interval; one that did not answer the last ping is ended. */
export class Heartbeat {
  private readonly alive = new WeakSet<WebSocket>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sockets: () => Iterable<WebSocket>,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => this.beat(), intervalMs);
    this.timer.unref();
  }

  watch(ws: WebSocket): void {
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
  }

  private beat(): void {
    for (const ws of this.sockets()) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      try {
        ws.ping();
      } catch {
        ws.terminate();
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
