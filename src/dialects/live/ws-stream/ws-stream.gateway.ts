import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { QueryBus } from '@nestjs/cqrs';
import { WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { SubscribeLiveMetricQuery, type LiveMetricRecord, type LiveMetricSubscription, type LivePush } from '../../../contexts/streams/live-metrics/commands.js';
import { QueryMetricQuery } from '../../../contexts/streams/metrics/application/commands.js';
import { StreamNotFoundError } from '../../../contexts/streams/domain/catalog.js';
import { DomainError } from '../../../core/errors/domain-errors.js';
import { CLOSE_GOING_AWAY } from '../../../core/realtime/close-codes.js';
import { Heartbeat, sendBounded } from '../../../core/realtime/socket-guard.js';
import { accept, refuse, upgradeContextOf, type UpgradeDecision, type UpgradeGuard, type UpgradeRequest } from '../../../core/realtime/upgrade-guard.js';
import { NsdbParseError, parseNsdb, validateSelect, type NsdbSelect } from '../nsdb-sql/index.js';
import { liveSpecOf, selectionOf } from './live-query.js';
import { INVALID_MESSAGE, parseWsMessage, socketParameters, type WsStreamSettings, type WsSubscribe } from './ws-stream-protocol.js';

/** Frames one socket may have read and not yet answered; past it they are answered with one error each batch. */
const MAX_PENDING_FRAMES = 100;

function settingsOf(config: ConfigService): WsStreamSettings {
  return {
    refreshPeriodMs: config.get<number>('LIVE_WS_REFRESH_PERIOD_MS') ?? 100,
    minRefreshPeriodMs: config.get<number>('LIVE_WS_MIN_REFRESH_PERIOD_MS') ?? 100,
    retentionSize: config.get<number>('LIVE_WS_RETENTION_SIZE') ?? 10,
    maxRetentionSize: config.get<number>('LIVE_WS_MAX_RETENTION_SIZE') ?? 10_000,
  };
}

/** Refuses `/ws-stream` upgrades whose refresh_period or retention_size cannot be used (400). */
@Injectable()
export class WsStreamGuard implements UpgradeGuard {
  private readonly settings: WsStreamSettings;
  constructor(@Inject(ConfigService) config: ConfigService) {
    this.settings = settingsOf(config);
  }

  decide({ query }: UpgradeRequest): UpgradeDecision {
    const parameters = socketParameters(query, this.settings);
    if ('refusal' in parameters) return refuse(400, parameters.refusal);
    return accept({ identity: parameters });
  }
}

/** A record's JSON, written once however many pushes carry it. */
const encoded = new WeakMap<object, string>();
function recordJson(record: LiveMetricRecord): string {
  let json = encoded.get(record);
  if (json === undefined) encoded.set(record, (json = JSON.stringify(record)));
  return json;
}

type Subscribed = { quid: string; handle: LiveMetricSubscription };

class WsStreamConnection {
  readonly subscriptions = new Map<string, Subscribed>();
  pending = 0;
  refused = 0;
  closed = false;
  chain: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    readonly refreshPeriodMs: number,
    readonly retentionSize: number,
    private readonly gateway: WsStreamGateway,
  ) {}

  send(text: string): void {
    if (this.closed) return;
    // Not sent: the socket is closing (a slow consumer is closed with 1013): its queries stop at once.
    if (!sendBounded(this.ws, { data: Buffer.from(text), binary: false }, this.gateway.sendLimit)) this.closeAll();
  }

  closeAll(): void {
    this.closed = true;
    for (const { handle } of this.subscriptions.values()) handle.close();
    this.subscriptions.clear();
  }
}

/**
 * NSDb's `/ws-stream`: subscribe to a select, get its answer on stored data and a quid, then throttled pushes
 * of what changed (at most one per query per refresh period, at most retention_size records, `dropped` when
 * more matched). Tideline adds `fromPosition` (resume) and `{action: "unsubscribe", quid}`. Frames are
 * answered in arrival order; a query's pushes start after its answer.
 */
@WebSocketGateway({ path: '/ws-stream', upgradeGuard: WsStreamGuard })
export class WsStreamGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger(WsStreamGateway.name);
  private heartbeat?: Heartbeat;
  private server?: WebSocketServer;
  readonly sendLimit: number;
  private readonly maxSubscriptions: number;
  private readonly maxStatementChars: number;
  private readonly settings: WsStreamSettings;

  constructor(
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(ConfigService) private readonly config: ConfigService,
  ) {
    this.sendLimit = config.get('SEND_BUFFER_LIMIT_BYTES')!;
    this.maxSubscriptions = config.get<number>('LIVE_WS_MAX_SUBSCRIPTIONS') ?? 100;
    this.maxStatementChars = config.get<number>('LIVE_WS_MAX_STATEMENT_CHARS') ?? 16 * 1024;
    this.settings = settingsOf(config);
  }

  afterInit(server: WebSocketServer): void {
    this.server = server;
    this.heartbeat = new Heartbeat(() => server.clients, this.config.get('HEARTBEAT_MS')!);
  }

  onModuleDestroy(): void {
    this.heartbeat?.stop();
    for (const ws of this.server?.clients ?? []) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  }

  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    const identity = upgradeContextOf(request).identity as { refreshPeriodMs: number; retentionSize: number } | undefined;
    const conn = new WsStreamConnection(ws, identity?.refreshPeriodMs ?? this.settings.refreshPeriodMs, identity?.retentionSize ?? this.settings.retentionSize, this);
    this.heartbeat?.watch(ws);
    ws.on('close', () => conn.closeAll());
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer, binary: boolean) => this.receive(conn, binary ? undefined : data.toString('utf8')));
  }

  private receive(conn: WsStreamConnection, text: string | undefined): void {
    if (conn.pending >= MAX_PENDING_FRAMES) {
      if (conn.refused++ === 0) {
        conn.chain = conn.chain.then(() => {
          conn.send(JSON.stringify({ error: `too many messages in flight (over ${MAX_PENDING_FRAMES}); ${conn.refused} message(s) not applied` }));
          conn.refused = 0;
        });
      }
      return;
    }
    conn.pending++;
    conn.chain = conn.chain
      .then(() => this.handle(conn, text))
      .catch((error: unknown) => this.logger.error(`ws-stream message failed: ${(error as Error).stack}`))
      .finally(() => conn.pending--);
  }

  private async handle(conn: WsStreamConnection, text: string | undefined): Promise<void> {
    if (conn.closed) return;
    const message = text === undefined ? undefined : parseWsMessage(text);
    if (!message) return conn.send(INVALID_MESSAGE);
    if (message.kind === 'unsubscribe') {
      const subscribed = conn.subscriptions.get(message.quid);
      if (!subscribed) return conn.send(JSON.stringify({ quid: message.quid, unsubscribed: false, reason: `quid ${message.quid} is not subscribed on this socket` }));
      subscribed.handle.close();
      conn.subscriptions.delete(message.quid);
      return conn.send(JSON.stringify({ quid: message.quid, unsubscribed: true }));
    }
    await this.subscribe(conn, message);
  }

  private async subscribe(conn: WsStreamConnection, message: WsSubscribe): Promise<void> {
    const { db, namespace, metric, queryString } = message;
    const fail = (reason: string) => conn.send(JSON.stringify({ db, namespace, metric, queryString, reason }));
    if (queryString.length > this.maxStatementChars) return fail(`statement is too long: at most ${this.maxStatementChars} characters`);
    if (conn.subscriptions.size >= this.maxSubscriptions) return fail(`too many subscriptions on this socket: at most ${this.maxSubscriptions} (unsubscribe some first)`);
    let select: NsdbSelect;
    try {
      const statement = parseNsdb(queryString);
      if (statement.kind !== 'select') return fail('not a select statement');
      validateSelect(statement);
      select = statement;
    } catch (error) {
      if (error instanceof NsdbParseError) return fail(error.message);
      throw error;
    }
    const selection = selectionOf(select, message, Date.now());
    const spec = liveSpecOf(message, select, selection);
    const ref = { db, namespace, metric };
    const onPush = (push: LivePush) => conn.send(pushFrame(push, db, namespace, metric));
    const options = {
      refreshPeriodMs: conn.refreshPeriodMs,
      retentionSize: conn.retentionSize,
      onPush,
      onError: (quid: string, reason: string) => conn.send(JSON.stringify({ quid, db, namespace, metric, queryString, reason })),
    };
    let handle: LiveMetricSubscription;
    let records: LiveMetricRecord[] | readonly unknown[];
    let position: number;
    try {
      const resume = message.fromPosition !== undefined && spec.shape.kind === 'plain';
      if (resume) {
        // Only the metric's existence is asked of the read model; the answer is the matches after fromPosition.
        await this.queries.execute(new QueryMetricQuery(ref, { fields: '*', distinct: false, limit: 1 }));
        handle = await this.queries.execute(new SubscribeLiveMetricQuery(spec, { ...options, fromPosition: message.fromPosition }));
        records = handle.records ?? [];
        position = handle.position;
      } else {
        const answer = await this.queries.execute(new QueryMetricQuery(ref, selection));
        handle = await this.queries.execute(new SubscribeLiveMetricQuery(spec, { ...options, after: answer.position }));
        records = answer.records;
        position = answer.position;
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError || (error instanceof DomainError && error.code === 'METRIC_NOT_FOUND')) return fail(`Metric ${metric} does not exist`);
      if (error instanceof DomainError) return fail(error.message);
      throw error;
    }
    if (conn.closed) return handle.close();
    const existing = conn.subscriptions.get(handle.quid);
    if (existing) handle.close(); // the same query twice on one socket: one subscription, one stream of pushes
    else conn.subscriptions.set(handle.quid, { quid: handle.quid, handle });
    conn.send(JSON.stringify({ db, namespace, metric, queryString, quid: handle.quid, records, position }));
    if (!existing) handle.start();
  }
}

/** The providers of `/ws-stream`, listed in the NSDb dialect's module. */
export const WS_STREAM_PROVIDERS = [WsStreamGuard, WsStreamGateway];

function pushFrame(push: LivePush, db: string, namespace: string, metric: string): string {
  const head = JSON.stringify({ quid: push.quid, db, namespace, metric }).slice(0, -1);
  const records = push.records.map(recordJson).join(',');
  return `${head},"records":[${records}],"position":${push.position}${push.dropped ? `,"dropped":${push.dropped}` : ''}}`;
}
