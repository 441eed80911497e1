import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocketServer } from 'ws';
import { compilePathPattern, pathnameOf, type PathParams } from './path-pattern.js';
import { CLOSE_GOING_AWAY } from './close-codes.js';

type RoutedServer = WebSocketServer & { path: string; match?: (pathname: string) => PathParams | undefined };

export type RealtimeWsOptions = { maxPayload: number };

/**
 * One upgrade router for every dialect: a gateway's `path` may hold `:params`; an upgrade no gateway
 * claims gets a 404. Gateways read frames from the socket themselves (the hot path skips Nest's
 * per-message routing), so message binding is a no-op here. On shutdown sockets close with 1001.
 */
export class RealtimeWsAdapter extends WsAdapter {
  private detachUpgrade?: () => void;

  constructor(
    app: INestApplicationContext,
    private readonly wsOptions: RealtimeWsOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, any> = {}): any {
    return super.create(port, { maxPayload: this.wsOptions.maxPayload, ...options });
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
        if (server.match(pathname)) {
          server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
          return;
        }
      }
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    httpServer.on('upgrade', listener);
    this.detachUpgrade = () => httpServer.off('upgrade', listener);
    return httpServer;
  }

  override async dispose(): Promise<void> {
    this.detachUpgrade?.();
    await super.dispose();
  }
}
