/**
 * Peer for the JET streams row: a bare `ws` server speaking the JSONJet `/ws` frames Tideline speaks, with
 * no storage. On `insert` it answers `insert_response` (success, count, offsets) at once and sends each record
 * as a JSONJet `data` frame (the record's JSON serialised once, in each subscriber's own envelope, as Tideline
 * does) to every subscriber of the target stream; `subscribe` → `subscribed`. `POST /api/execute` answers
 * success (so `create stream …` works), GET /health answers ok.
 *
 * Env: PORT (0 = any), HOST; BARE_WS_CORK=1 holds each socket's writes until the end of the event-loop turn
 * (as Tideline does), otherwise each frame is written at once (stock `ws`).
 * Prints `jet-bare: listening on http://<host>:<port>`. Exits when stdin closes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

type RequestId = string | number | undefined;
type Sub = { ws: WebSocket; id: number; requestId: RequestId };
type Stream = { subs: Set<Sub>; offset: number };

const host = process.env.HOST ?? '127.0.0.1';
const streams = new Map<string, Stream>();
let nextClientId = 1;
let nextSubscriptionId = 1;

function stream(name: string): Stream {
  let s = streams.get(name);
  if (!s) streams.set(name, (s = { subs: new Set(), offset: 0 }));
  return s;
}

const CORK = process.env.BARE_WS_CORK === '1';
type Corkable = { cork(): void; uncork(): void; destroyed?: boolean };
const corked = new Set<Corkable>();

function cork(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Corkable })._socket;
  if (!socket || corked.has(socket)) return;
  if (corked.size === 0)
    setImmediate(() => {
      for (const s of corked) if (!s.destroyed) s.uncork();
      corked.clear();
    });
  socket.cork();
  corked.add(socket);
}

function send(ws: WebSocket, text: string): void {
  if (CORK) cork(ws);
  ws.send(text);
}

function dataFrame(streamName: string, recordJson: string, subscriptionId: number, requestId: RequestId, offset: number): string {
  const tail = `${requestId === undefined ? '' : `,"requestId":${JSON.stringify(requestId)}`},"offset":${offset}}`;
  return `{"type":"data","streamName":${JSON.stringify(streamName)},"data":${recordJson},"subscriptionId":${subscriptionId}${tail}`;
}

function withRequestId(reply: Record<string, unknown>, requestId: RequestId): Record<string, unknown> {
  return requestId === undefined ? reply : { ...reply, requestId };
}

function insert(ws: WebSocket, target: string, records: unknown[], requestId: RequestId): void {
  const s = stream(target);
  const firstOffset = s.offset + 1;
  s.offset += records.length;
  send(ws, JSON.stringify(withRequestId({ type: 'insert_response', success: true, count: records.length, target, message: `${records.length} record(s) inserted successfully into '${target}'`, firstOffset, lastOffset: s.offset }, requestId)));
  let offset = firstOffset;
  for (const record of records) {
    const json = JSON.stringify(record);
    for (const sub of s.subs) send(sub.ws, dataFrame(target, json, sub.id, sub.requestId, offset));
    offset++;
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
  const url = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && (url === '/health' || url === '/api/status')) return json(res, 200, { status: 'running' });
  if (req.method === 'POST' && url === '/api/execute') {
    try {
      const { query } = JSON.parse(await readBody(req)) as { query?: string };
      const m = /^\s*create\s+(?:or\s+replace\s+|if\s+not\s+exists\s+)?stream\s+(\w+)/i.exec(query ?? '');
      if (m) stream(m[1]);
      return json(res, 200, { success: true, type: m ? 'stream' : 'command', message: 'ok', ...(m ? { streamName: m[1] } : {}) });
    } catch {
      return json(res, 400, { success: false, error: { code: 'BAD_REQUEST', message: 'bad request' } });
    }
  }
  json(res, 404, { error: 'not found' });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
http.on('upgrade', (req, socket, head) => {
  if ((req.url ?? '').split('?')[0] !== '/ws') return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const mine: { s: Stream; sub: Sub }[] = [];
    ws.on('close', () => {
      for (const { s, sub } of mine) s.subs.delete(sub);
    });
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      let msg: { type?: string; requestId?: RequestId; target?: string; data?: unknown; streamName?: string | string[] };
      try {
        msg = JSON.parse(data.toString());
      } catch (error) {
        return send(ws, JSON.stringify({ type: 'error', message: `Invalid JSON: ${(error as Error).message}` }));
      }
      const { requestId } = msg;
      if (msg.type === 'insert' && typeof msg.target === 'string') {
        insert(ws, msg.target, Array.isArray(msg.data) ? msg.data : [msg.data], requestId);
      } else if (msg.type === 'subscribe' && msg.streamName) {
        const names = Array.isArray(msg.streamName) ? msg.streamName : [msg.streamName];
        const subscriptions = names.map((streamName) => {
          const sub: Sub = { ws, id: nextSubscriptionId++, requestId };
          const s = stream(streamName);
          s.subs.add(sub);
          mine.push({ s, sub });
          return { streamName, subscriptionId: sub.id };
        });
        send(ws, JSON.stringify(withRequestId({ type: 'subscribed', subscriptions, message: `Subscribed to ${subscriptions.length} stream(s)` }, requestId)));
      } else {
        send(ws, JSON.stringify(withRequestId({ type: 'error', message: 'Unknown message type. Supported types: subscribe, insert' }, requestId)));
      }
    });
    send(ws, JSON.stringify({ type: 'connected', clientId: nextClientId++, message: 'Connected to jet-bare (JSONJet protocol, no storage)' }));
  });
});

http.listen(Number(process.env.PORT ?? 0), host, () => {
  const { port } = http.address() as { port: number };
  process.stdout.write(`jet-bare: listening on http://${host}:${port}\n`);
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
