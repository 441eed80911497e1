/**
 * Peer for the fan-out and memory rows: a bare `ws` server speaking the same Rooms protocol shape as
 * Tideline, with no storage. On a push it adds a per-room seq and broadcasts the frame to every socket of
 * the room (sender included); ping → pong. Also serves POST /new, POST /room/<id>/send and GET /health so
 * the same load scripts can drive it (and so it can stand in for Tideline while developing the harness:
 * `npm run bench -- --standin`).
 *
 * Env: PORT (0 = any), HOST. Each socket's writes are corked until the end of the event-loop turn (one
 * write per socket per batch of pushes, the same transport technique Tideline uses, so the comparison
 * isolates the cost of storage); BARE_WS_CORK=0 sends each frame at once (the plain idiomatic server).
 * Prints `bare-ws: listening on http://<host>:<port>`. Exits when stdin closes.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

type Room = { sockets: Set<WebSocket>; seq: number };
const rooms = new Map<string, Room>();
const host = process.env.HOST ?? '127.0.0.1';

function room(id: string): Room {
  let r = rooms.get(id);
  if (!r) rooms.set(id, (r = { sockets: new Set(), seq: 0 }));
  return r;
}

type Push = { type: 'push'; key: string; value: unknown; action?: { type?: string } };

const CORK = process.env.BARE_WS_CORK !== '0';
type Corkable = { cork(): void; uncork(): void; destroyed?: boolean };
const corked = new Set<Corkable>();

function cork(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Corkable })._socket;
  if (!socket || corked.has(socket)) return;
  if (corked.size === 0) setImmediate(() => {
    for (const s of corked) if (!s.destroyed) s.uncork();
    corked.clear();
  });
  socket.cork();
  corked.add(socket);
}

/** Serialises and encodes once, then hands the same bytes to every socket as a text frame. */
function broadcast(r: Room, msg: Push): void {
  const frame = Buffer.from(JSON.stringify({ type: 'push', key: msg.key, value: msg.value, seq: ++r.seq }));
  for (const s of r.sockets) {
    if (CORK) cork(s);
    s.send(frame, { binary: false });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const http = createServer(async (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/health') return json(res, 200, { status: 'ok' });
  if (req.method === 'POST' && url === '/new') {
    const id = randomUUID();
    room(id);
    const origin = `${host}:${(http.address() as { port: number }).port}`;
    return json(res, 200, { room: id, socket_url: `ws://${origin}/room/${id}/connect`, http_url: `http://${origin}/room/${id}` });
  }
  const send = /^\/room\/([^/]+)\/send$/.exec(url);
  if (req.method === 'POST' && send) {
    try {
      const msg = JSON.parse(await readBody(req)) as Push;
      if (msg.type === 'push') broadcast(room(send[1]), msg);
      return json(res, 200, {});
    } catch {
      return json(res, 400, { error: 'bad request' });
    }
  }
  json(res, 404, { error: 'not found' });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
http.on('upgrade', (req, socket, head) => {
  const m = /^\/room\/([^/]+)\/connect$/.exec((req.url ?? '').split('?')[0]);
  if (!m) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const r = room(m[1]);
    r.sockets.add(ws);
    ws.on('close', () => r.sockets.delete(ws));
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      let msg: { type?: string; nonce?: unknown } & Partial<Push>;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (msg.type === 'push') broadcast(r, msg as Push);
      else if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong', nonce: msg.nonce }));
    });
  });
});

http.listen(Number(process.env.PORT ?? 0), host, () => {
  const { port } = http.address() as { port: number };
  process.stdout.write(`bare-ws: listening on http://${host}:${port}\n`);
});

const shutdown = () => {
  for (const ws of wss.clients) ws.terminate();
  http.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
