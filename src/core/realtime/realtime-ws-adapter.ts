import { STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplicationContext, Type } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocketServer } from 'ws';
import { compilePathPattern, pathnameOf, type PathParams } from './path-pattern.js';
import { CLOSE_GOING_AWAY } from './close-codes.js';
import { UnavailableError } from '../errors/domain-errors.js';
import { findUpgradeContext, recordUpgrade, type UpgradeDecision, type UpgradeGuard, type UpgradeRefusal } from './upgrade-guard.js';

type RoutedServer = WebSocketServer & { path: string; match?: (pathname: string) => PathParams | undefined };

export type RealtimeWsOptions = { maxPayload: number };

/**
 * One upgrade router for every dialect: a gateway's `path` may hold `:params`; an upgrade no gateway
 * claims gets a 404. A gateway may declare an `upgradeGuard` (see upgrade-guard.ts) that accepts the
 * upgrade with an identity or refuses it with a status before any socket exists; the gateway reads the
 * matched params and identity with `upgradeContextOf(request)`. Gateways read frames from the socket
 * themselves (the hot path skips Nest's per-message routing), so message binding is a no-op here. On
 * shutdown sockets close with 1001.
 */
export class RealtimeWsAdapter extends WsAdapter {
  private detachUpgrade?: () => void;
  /** Gateways' guards, by their servers (declared as `upgradeGuard` in the gateway's options, resolved on first use). */
  private readonly guards = new WeakMap<WebSocketServer, { token: Type<UpgradeGuard>; instance?: UpgradeGuard }>();

  constructor(
    private readonly app: INestApplicationContext,
    private readonly wsOptions: RealtimeWsOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, any> = {}): any {
    const { upgradeGuard, ...rest } = options;
    const server = super.create(port, {
      maxPayload: this.wsOptions.maxPayload,
      // The guard's choice of subprotocol, else the first offered (ws's own default).
      handleProtocols: (offered: Set<string>, request: IncomingMessage) => findUpgradeContext(request)?.protocol ?? [...offered][0] ?? false,
      ...rest,
    }) as WebSocketServer;
    if (upgradeGuard) this.guards.set(server, { token: upgradeGuard as Type<UpgradeGuard> });
    return server;
  }

  override bindMessageHandlers(): void {}

  /** A client's socket error (oversized frame, reset) is the client's fault: note it, do not alarm. */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (ws) => ws.on('error', (err) => this.logger.debug?.(`client socket: ${err.message}`)));
    server.on('error', (err) => this.logger.error(err));
    return server;
  }

  override async close(server: WebSocketServer): Promise<void> {
    for (const ws of server.clients) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([closed, deadline]);
    for (const ws of server.clients) ws.terminate();
  }

  protected override ensureHttpServerExists(port: number, httpServer?: HttpServer): any {
    if (this.httpServersRegistry.has(port)) return;
    if (!httpServer) return super.ensureHttpServerExists(port, httpServer);
    this.httpServersRegistry.set(port, httpServer);
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const pathname = pathnameOf(request.url ?? '/');
      const servers = (this.wsServersRegistry.get(port) ?? []) as RoutedServer[];
      for (const server of servers) {
        server.match ??= compilePathPattern(server.path);
        const params = server.match(pathname);
        if (params) {
          void this.upgrade(server, pathname, params, request, socket, head);
          return;
        }
      }
      refuseUpgrade(socket, { status: 404, message: '' });
    };
    httpServer.on('upgrade', listener);
    this.detachUpgrade = () => httpServer.off('upgrade', listener);
    return httpServer;
  }

  private async upgrade(server: RoutedServer, pathname: string, params: PathParams, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = request.url ?? '/';
    const at = url.indexOf('?');
    const query = new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
    let decision: UpgradeDecision = { accept: true };
    try {
      const guard = this.guardOf(server);
      if (guard) {
        const protocols = String(request.headers['sec-websocket-protocol'] ?? '')
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean);
        decision = await guard.decide({ url, pathname, params, query, headers: request.headers, protocols });
      }
    } catch (error) {
      // The database being away is expected now and then; anything else is the guard's fault and worth a warning.
      if (!(error instanceof UnavailableError)) this.logger.warn(`upgrade guard failed: ${(error as Error).message}`);
      decision = { accept: false, status: 503, message: 'service unavailable' };
    }
    if (socket.destroyed) return;
    if (!decision.accept) return refuseUpgrade(socket, decision);
    recordUpgrade(request, { params, query, identity: decision.identity, protocol: decision.protocol });
    server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
  }

  private guardOf(server: WebSocketServer): UpgradeGuard | undefined {
    const entry = this.guards.get(server);
    if (!entry) return undefined;
    entry.instance ??= this.app.get(entry.token, { strict: false });
    return entry.instance;
  }

  override async dispose(): Promise<void> {
    this.detachUpgrade?.();
    await super.dispose();
  }
}

/** An HTTP answer instead of the upgrade, then the socket is closed. */
function refuseUpgrade(socket: Duplex, { status, message, headers = {} }: UpgradeRefusal): void {
  const body = Buffer.from(message);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value.replace(/[\r\n]/g, ' ')}`),
  ];
  socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
}
