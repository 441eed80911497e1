import 'reflect-metadata';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import { WebSocket } from 'ws';
import { RealtimeWsAdapter } from './realtime-ws-adapter.js';
import { accept, refuse, upgradeContextOf, type UpgradeDecision, type UpgradeGuard, type UpgradeRequest } from './upgrade-guard.js';

/** A token may come as a bearer header, as a `token.<t>` subprotocol, or as `?token=`. */
@Injectable()
class TokenGuard implements UpgradeGuard {
  decide({ headers, protocols, query, params }: UpgradeRequest): UpgradeDecision {
    if (params.team === 'down') throw new Error('directory unreachable');
    const fromProtocol = protocols.find((p) => p.startsWith('token.'));
    const token = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1] ?? fromProtocol?.slice('token.'.length) ?? query.get('token');
    if (!token) return refuse(401, 'credentials required', { 'WWW-Authenticate': 'Bearer' });
    if (token !== `member-of-${params.team}`) return refuse(403, `not a member of ${params.team}`);
    return accept({ identity: { user: token }, protocol: fromProtocol && 'tideline' });
  }
}

@WebSocketGateway({ path: '/teams/:team/ws', upgradeGuard: TokenGuard })
class GuardedGateway implements OnGatewayConnection {
  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    const { params, identity, query } = upgradeContextOf(request);
    ws.send(JSON.stringify({ team: params.team, identity, hello: query.get('hello') }));
  }
}

@WebSocketGateway({ path: '/open/ws' })
class OpenGateway implements OnGatewayConnection {
  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    ws.send(JSON.stringify({ params: upgradeContextOf(request).params }));
  }
}

@Module({ providers: [TokenGuard, GuardedGateway, OpenGateway] })
class GuardedModule {}

type Outcome = { status?: number; body?: string; headers?: Record<string, string | string[] | undefined>; first?: unknown; protocol?: string };

function connect(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    ws.on('message', (data) => {
      resolve({ status: 101, first: JSON.parse(String(data)), protocol: ws.protocol });
      ws.close();
    });
    ws.on('error', () => undefined);
  });
}

describe('realtime adapter: one upgrade hook for every gateway', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await NestFactory.create(GuardedModule, { logger: false });
    app.useWebSocketAdapter(new RealtimeWsAdapter(app, { maxPayload: 1024 * 1024 }));
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  it('refuses without credentials with 401 and the guard headers, with the wrong ones with 403', async () => {
    const missing = await connect(`${base}/teams/red/ws`);
    expect(missing).toMatchObject({ status: 401, body: 'credentials required' });
    expect(missing.headers?.['www-authenticate']).toBe('Bearer');
    expect(await connect(`${base}/teams/red/ws`, { headers: { Authorization: 'Bearer member-of-blue' } })).toMatchObject({ status: 403, body: 'not a member of red' });
  });

  it('accepts a token from a header, a subprotocol or the query, and hands the identity and params to the gateway', async () => {
    expect(await connect(`${base}/teams/red/ws?hello=1`, { headers: { Authorization: 'Bearer member-of-red' } })).toMatchObject({
      status: 101,
      first: { team: 'red', identity: { user: 'member-of-red' }, hello: '1' },
    });
    expect(await connect(`${base}/teams/red/ws`, { protocols: ['token.member-of-red', 'tideline'] })).toMatchObject({
      status: 101,
      protocol: 'tideline',
      first: { identity: { user: 'member-of-red' } },
    });
    expect(await connect(`${base}/teams/red/ws?token=member-of-red`)).toMatchObject({ status: 101, first: { team: 'red' } });
  });

  it('answers 503 when the guard throws, and 404 for a path no gateway claims; unguarded gateways get their params', async () => {
    expect(await connect(`${base}/teams/down/ws`, { headers: { Authorization: 'Bearer x' } })).toMatchObject({ status: 503 });
    expect(await connect(`${base}/nowhere`)).toMatchObject({ status: 404 });
    expect(await connect(`${base}/open/ws`)).toMatchObject({ status: 101, first: { params: {} } });
  });
});
