import { Agent, request } from 'node:http';
import { LeanSocket } from './lean-ws.js';

/** Client side of the Rooms (DriftDB-compatible) protocol, as the load processes speak it. */

/** Keep-alive connections for the HTTP calls (node:http costs the load processes less CPU than fetch). */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export function httpCall(method: 'GET' | 'POST', url: string, body?: string, timeoutMs = 10_000): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    } else if (method === 'POST') headers['content-length'] = 0;
    const req = request(url, { method, agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${new URL(url).pathname} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function createRoom(httpUrl: string, timeoutMs = 10_000): Promise<string> {
  const res = await httpCall('POST', `${httpUrl}/new`, undefined, timeoutMs);
  if (res.status < 200 || res.status >= 300) throw new Error(`POST /new → ${res.status} ${res.text.slice(0, 200)}`.trim());
  const room = (JSON.parse(res.text) as { room?: string }).room;
  if (!room) throw new Error(`POST /new returned no room: ${res.text.slice(0, 200)}`);
  return room;
}

/** Creates `count` rooms with at most `concurrency` requests in flight. */
export async function createRooms(httpUrl: string, count: number, concurrency = 16): Promise<string[]> {
  const rooms: string[] = new Array(count);
  await parallel(count, concurrency, async (i) => {
    rooms[i] = await createRoom(httpUrl);
  });
  return rooms;
}

export function socketUrl(wsUrl: string, room: string): string {
  return `${wsUrl}/room/${room}/connect`;
}

/** Opens a WebSocket (the lean client, see lean-ws.ts); resolves once the upgrade is done. */
export function openSocket(url: string, timeoutMs = 15_000): Promise<LeanSocket> {
  return LeanSocket.open(url, timeoutMs);
}

/** Opens many sockets with at most `concurrency` handshakes in flight. */
export async function openSockets(urls: string[], concurrency = 100): Promise<LeanSocket[]> {
  const sockets: LeanSocket[] = new Array(urls.length);
  try {
    await parallel(urls.length, concurrency, async (i) => {
      sockets[i] = await openSocket(urls[i]);
    });
  } catch (error) {
    for (const s of sockets) s?.terminate();
    throw error;
  }
  return sockets;
}

export function pushFrame(value: unknown, action: 'append' | 'relay' | 'replace' = 'append', key = 'k'): string {
  return JSON.stringify({ type: 'push', key, value, action: { type: action } });
}

export async function parallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < count) {
      const i = next++;
      try {
        await work(i);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== undefined) throw failure;
}

export async function closeAll(sockets: (LeanSocket | undefined)[]): Promise<void> {
  await Promise.all(sockets.map((s) => s?.close()));
}
