import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Catch, type ArgumentsHost, type ExceptionFilter, Inject, Logger, type OnModuleDestroy, UseFilters } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CommandBus } from '@nestjs/cqrs';
import { WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { CloseSqlSessionCommand } from '../../contexts/collections/application/commands.js';
import type { SqlWriter } from '../../contexts/collections/documents/table-policies.js';
import { SqlConflictError, SqlError } from '../../contexts/collections/domain/sql-error.js';
import { ClosedError, ConflictError, OverloadedError, UnavailableError } from '../../core/errors/domain-errors.js';
import { CLOSE_GOING_AWAY } from '../../core/realtime/close-codes.js';
import { Heartbeat, sendBounded } from '../../core/realtime/socket-guard.js';
import { upgradeContextOf } from '../../core/realtime/upgrade-guard.js';
import { jsonLdGraph } from './json-ld.js';
import { SqlUpgradeGuard } from './sql-auth.js';
import { sqlReport } from './sql-report.js';
import { SqlRequestError, SqlRunner, SqlSyntaxError } from './sql-runner.js';
import { SQL_DIALECT_SETTINGS, type SqlDialectSettings } from './sql-settings.js';

export const SQL_SOCKET_PATH = '/sql';

/** JSON-RPC 2.0 error codes, as Endb answers them. */
export const RPC = { parseError: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internalError: -32603 } as const;

type Id = string | number | null;

/** A JSON-RPC error response. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly id: Id,
  ) {
    super(message);
  }
}

const rpcError = (id: Id, code: number, message: string) => JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });

/** Frames are read by the gateway itself; this keeps anything Nest routes to it in the JSON-RPC shape. */
@Catch()
export class SqlRpcFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const ws = host.switchToWs().getClient<WebSocket>();
    ws.send(rpcError(null, RPC.internalError, (error as Error)?.message ?? 'Internal error'));
  }
}

/** `writer`: who the upgrade proved to be (SqlUpgradeGuard); every write of the socket is theirs. */
type Connection = { ws: WebSocket; session: string; pending: number; refused: boolean; queue: Promise<void>; writer: SqlWriter };

/**
 * Endb's socket: JSON-RPC 2.0 over `/sql`, method `sql` with params `{q, p, m}` or `[q, p, m]`, text or
 * binary frames, answered in order. Each socket is a session that may hold one transaction (kept by the
 * collections context, never as an open database transaction); closing the socket rolls it back.
 */
@WebSocketGateway({ path: SQL_SOCKET_PATH, upgradeGuard: SqlUpgradeGuard })
@UseFilters(SqlRpcFilter)
export class SqlGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger(SqlGateway.name);
  private heartbeat?: Heartbeat;
  private server?: WebSocketServer;
  private readonly sendLimit: number;

  constructor(
    @Inject(SqlRunner) private readonly runner: SqlRunner,
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ConfigService) private readonly config: ConfigService,
    @Inject(SQL_DIALECT_SETTINGS) private readonly settings: SqlDialectSettings,
  ) {
    this.sendLimit = config.get('SEND_BUFFER_LIMIT_BYTES') ?? 8 * 1024 * 1024;
  }

  afterInit(server: WebSocketServer): void {
    this.heartbeat = new Heartbeat(() => server.clients, this.config.get('HEARTBEAT_MS') ?? 30_000);
    this.server = server;
  }

  onModuleDestroy(): void {
    this.heartbeat?.stop();
    for (const ws of this.server?.clients ?? []) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  }

  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    // SqlUpgradeGuard names a writer for every socket it lets in (the admin `sql` with SQL auth off).
    const writer = upgradeContextOf(request).identity as SqlWriter | undefined;
    if (!writer) return void ws.close(1008, 'not authenticated'); // policy violation
    const conn: Connection = { ws, session: randomUUID(), pending: 0, refused: false, queue: Promise.resolve(), writer };
    this.heartbeat?.watch(ws);
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => this.receive(conn, data));
    ws.on('close', () => {
      // After the frames already taken: a COMMIT in flight finishes, then whatever is left is rolled back.
      conn.queue = conn.queue.then(() => this.commands.execute(new CloseSqlSessionCommand(conn.session))).catch(() => undefined);
    });
  }

  /** One frame at a time per socket (a transaction's statements run in order); at most maxPendingFrames waiting. */
  private receive(conn: Connection, data: Buffer): void {
    if (conn.pending >= this.settings.maxPendingFrames) {
      if (!conn.refused) this.send(conn, rpcError(null, RPC.internalError, `Too many requests in flight (at most ${this.settings.maxPendingFrames})`));
      conn.refused = true;
      return;
    }
    conn.pending++;
    conn.queue = conn.queue
      .then(() => this.answer(conn, data.toString('utf8')))
      .then((reply) => this.send(conn, reply))
      .catch((error) => this.logger.error(`reply failed: ${(error as Error).stack}`))
      .finally(() => {
        conn.pending--;
        if (conn.pending === 0) conn.refused = false;
      });
  }

  private send(conn: Connection, text: string): void {
    sendBounded(conn.ws, { data: Buffer.from(text), binary: false }, this.sendLimit);
  }

  private async answer(conn: Connection, text: string): Promise<string> {
    let id: Id = null;
    let q = '';
    try {
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        throw new RpcError(RPC.parseError, 'Parse error', null);
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message)) throw new RpcError(RPC.invalidRequest, 'Invalid Request', null);
      const request = message as Record<string, unknown>;
      const rawId = request.id;
      const validId = typeof rawId === 'string' || (typeof rawId === 'number' && Number.isInteger(rawId));
      if (request.jsonrpc !== '2.0' || !validId) throw new RpcError(RPC.invalidRequest, 'Invalid Request', null);
      id = rawId as string | number;
      if (request.method !== 'sql') throw new RpcError(RPC.methodNotFound, 'Method not found', id);
      let params = request.params;
      if (Array.isArray(params)) params = { q: params[0], p: params[1], m: params[2] };
      if (typeof params !== 'object' || params === null) throw new RpcError(RPC.invalidParams, 'Invalid params', id);
      const { q: rawQ, p = [], m = false } = params as Record<string, unknown>;
      if (typeof rawQ !== 'string' || typeof p !== 'object' || p === null || typeof m !== 'boolean') throw new RpcError(RPC.invalidParams, 'Invalid params', id);
      q = rawQ;
      const statement = this.runner.parse(q);
      const sets = this.runner.paramSets(p, m);
      const result = await this.runner.run(statement, sets, m, conn.session, conn.writer);
      return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${jsonLdGraph(result.columns, result.rows)}}`;
    } catch (error) {
      if (error instanceof RpcError) return rpcError(error.id, error.code, error.message);
      return rpcError(id, RPC.internalError, this.describe(error, q));
    }
  }

  private describe(error: unknown, q: string): string {
    if (error instanceof SqlSyntaxError) return sqlReport(q, error.message, { offset: error.offset, length: error.length }, 'Parse error');
    if (error instanceof SqlError) return sqlReport(q, error.message, error.pos, error.label);
    if (error instanceof SqlConflictError || error instanceof ConflictError) return 'Conflict';
    if (error instanceof SqlRequestError || error instanceof OverloadedError || error instanceof UnavailableError || error instanceof ClosedError) return error.message;
    this.logger.error(`statement failed: ${(error as Error)?.stack ?? String(error)}`);
    return 'Internal error';
  }
}
