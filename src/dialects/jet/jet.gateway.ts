import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import {
  InsertRecordsCommand,
  StartLiveQueryQuery,
  SubscribeToStreamQuery,
  type DeliveredRecord,
  type FromOffset,
} from '../../contexts/streams/application/commands.js';
import type { PipelinePlan } from '../../core/query/index.js';
import { CLOSE_GOING_AWAY } from '../../core/realtime/close-codes.js';
import { Heartbeat, sendBounded } from '../../core/realtime/socket-guard.js';
import { toJetError } from './jet-errors.js';
import { JetExecutor, type JetSocketSession } from './jet-executor.js';
import { dataFrame, JetProtocolError, parseJetMessage, type JetClientMessage, type RequestId } from './jet-protocol.js';

/** Frames one connection may have read and not yet answered; past it (or MAX_PENDING_BYTES) they are refused. */
const MAX_PENDING_FRAMES = 1000;

type Reply = Record<string, unknown> & { type: string };
type Subscription = { streamName: string; close(): void };

/** This process's JET connections, for `/api/status`. */
@Injectable()
export class JetConnections {
  count = 0;
}

/** A record's JSON, written once however many subscribers receive it. */
const encoded = new WeakMap<object, string>();
function recordJson(record: DeliveredRecord): string {
  let json = encoded.get(record.key);
  if (json === undefined) encoded.set(record.key, (json = JSON.stringify(record.data)));
  return json;
}

let nextClientId = 1;
let nextSubscriptionId = 1;

class JetConnection {
  readonly clientId = nextClientId++;
  readonly subscriptions = new Map<number, Subscription>();
  pending = 0;
  pendingBytes = 0;
  refused = 0;
  replies: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    private readonly gateway: JetGateway,
  ) {}

  send(text: string): void {
    sendBounded(this.ws, { data: Buffer.from(text), binary: false }, this.gateway.sendLimit);
  }

  private room(): void {
    if (this.subscriptions.size >= this.gateway.maxSubscriptions) {
      throw new JetProtocolError(`Too many subscriptions on this connection (at most ${this.gateway.maxSubscriptions})`);
    }
  }

  /** Opens one subscription whose data waits until `ready()` (its `subscribed` reply went out first). */
  private async open(streamName: string, from: FromOffset, requestId: RequestId): Promise<{ id: number; subscription: Subscription; ready: () => void }> {
    const id = nextSubscriptionId++;
    let held: string[] | undefined = [];
    const deliver = (record: DeliveredRecord) => {
      const frame = dataFrame(streamName, recordJson(record), id, requestId, record.offset);
      if (held) held.push(frame);
      else this.send(frame);
    };
    const subscription = await this.gateway.queries.execute(new SubscribeToStreamQuery(streamName, from, deliver));
    const ready = () => {
      const frames = held ?? [];
      held = undefined;
      for (const frame of frames) this.send(frame);
    };
    return { id, subscription, ready };
  }

  /** All of them or none: a missing stream closes those already opened. */
  async subscribeAll(names: string[], from: FromOffset, requestId: RequestId): Promise<{ reply: Reply; ready: () => void }> {
    if (this.subscriptions.size + names.length > this.gateway.maxSubscriptions) this.room();
    const opened: { id: number; subscription: Subscription; ready: () => void }[] = [];
    try {
      for (const name of names) opened.push(await this.open(name, from, requestId));
    } catch (error) {
      for (const o of opened) o.subscription.close();
      throw error;
    }
    for (const o of opened) this.subscriptions.set(o.id, o.subscription);
    return {
      reply: { type: 'subscribed', subscriptions: opened.map((o) => ({ streamName: o.subscription.streamName, subscriptionId: o.id })), message: `Subscribed to ${opened.length} stream(s)` },
      ready: () => opened.forEach((o) => o.ready()),
    };
  }

  /** What an `execute` may do on this socket; what it opens echoes the execute's request id in its data. */
  session(requestId: RequestId): JetSocketSession {
    return {
      subscribe: (streamName) => this.subscribe(streamName, requestId),
      unsubscribe: (subscriptionId) => this.unsubscribe(subscriptionId),
      startLiveQuery: (plan) => this.startLiveQuery(plan, requestId),
    };
  }

  async subscribe(streamName: string, requestId: RequestId): Promise<{ streamName: string; subscriptionId: number }> {
    this.room();
    const { id, subscription, ready } = await this.open(streamName, 'latest', requestId);
    this.subscriptions.set(id, subscription);
    ready();
    return { streamName, subscriptionId: id };
  }

  unsubscribe(subscriptionId?: number) {
    if (subscriptionId !== undefined) {
      const subscription = this.subscriptions.get(subscriptionId);
      if (!subscription) throw new JetProtocolError(`Subscription ${subscriptionId} not found`);
      subscription.close();
      this.subscriptions.delete(subscriptionId);
      return { subscriptionId, streamName: subscription.streamName };
    }
    const unsubscribed = [...this.subscriptions].map(([id, s]) => {
      s.close();
      return { subscriptionId: id, streamName: s.streamName };
    });
    this.subscriptions.clear();
    return { unsubscribed };
  }

  async startLiveQuery(plan: PipelinePlan, requestId: RequestId): Promise<{ subscriptionId: number }> {
    this.room();
    const id = nextSubscriptionId++;
    const handle = await this.gateway.queries.execute(
      new StartLiveQueryQuery(
        plan,
        ({ record, offset }) => this.send(dataFrame(plan.source, JSON.stringify(record), id, requestId, offset)),
        (message, offset) => this.send(JSON.stringify({ type: 'error', subscriptionId: id, message, offset, requestId })),
      ),
    );
    this.subscriptions.set(id, handle);
    return { subscriptionId: id };
  }

  closeAll(): void {
    for (const subscription of this.subscriptions.values()) subscription.close();
    this.subscriptions.clear();
  }
}

/**
 * JSONJet's socket, `/ws`: subscribe (with `fromOffset` to resume), unsubscribe, insert, execute. Frames
 * start in arrival order and their replies leave in that order; data frames of a subscription follow its
 * `subscribed` reply.
 */
@WebSocketGateway({ path: '/ws' })
export class JetGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger(JetGateway.name);
  private heartbeat?: Heartbeat;
  private server?: WebSocketServer;
  readonly sendLimit: number;
  readonly maxSubscriptions: number;
  private readonly maxRecords: number;
  private readonly pendingBytesLimit: number;

  constructor(
    @Inject(CommandBus) readonly commands: CommandBus,
    @Inject(QueryBus) readonly queries: QueryBus,
    @Inject(JetExecutor) private readonly executor: JetExecutor,
    @Inject(JetConnections) private readonly connections: JetConnections,
    @Inject(ConfigService) private readonly config: ConfigService,
  ) {
    this.sendLimit = config.get('SEND_BUFFER_LIMIT_BYTES')!;
    this.maxSubscriptions = config.get('MAX_SUBSCRIPTIONS_PER_CONNECTION')!;
    this.maxRecords = config.get('MAX_INSERT_RECORDS')!;
    this.pendingBytesLimit = Math.max(config.get<number>('MAX_PENDING_BYTES')!, config.get<number>('MAX_MESSAGE_BYTES')!);
  }

  afterInit(server: WebSocketServer): void {
    this.server = server;
    this.heartbeat = new Heartbeat(() => server.clients, this.config.get('HEARTBEAT_MS')!);
  }

  onModuleDestroy(): void {
    this.heartbeat?.stop();
    for (const ws of this.server?.clients ?? []) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  }

  handleConnection(ws: WebSocket): void {
    const conn = new JetConnection(ws, this);
    this.connections.count++;
    this.heartbeat?.watch(ws);
    ws.on('close', () => {
      this.connections.count--;
      conn.closeAll();
    });
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => this.receive(conn, data));
    conn.send(JSON.stringify({ type: 'connected', clientId: conn.clientId, message: 'Connected to Tideline (JSONJet protocol)' }));
  }

  private receive(conn: JetConnection, data: Buffer): void {
    if (conn.pending >= MAX_PENDING_FRAMES || conn.pendingBytes + data.length > this.pendingBytesLimit) {
      if (conn.refused++ === 0) {
        conn.replies = conn.replies.then(() => {
          const refused = conn.refused;
          conn.refused = 0;
          conn.send(JSON.stringify({ type: 'error', message: `Too many messages in flight (over ${MAX_PENDING_FRAMES} or ${this.pendingBytesLimit} bytes); ${refused} message(s) not applied` }));
        });
      }
      return;
    }
    let message: JetClientMessage;
    try {
      message = parseJetMessage(data.toString('utf8'), this.maxRecords);
    } catch (error) {
      const { replyType, requestId } = error as JetProtocolError;
      const reply: Reply = replyType === 'error' ? { type: 'error', message: (error as Error).message } : { type: replyType, success: false, error: (error as Error).message };
      this.reply(conn, Promise.resolve({ reply: withRequestId(reply, requestId) }), data.length);
      return;
    }
    this.reply(conn, this.answer(conn, message), data.length);
  }

  private async answer(conn: JetConnection, message: JetClientMessage): Promise<{ reply: Reply; ready?: () => void }> {
    const { requestId } = message;
    try {
      switch (message.type) {
        case 'subscribe': {
          const { reply, ready } = await conn.subscribeAll(message.streamNames, message.fromOffset, requestId);
          return { reply: withRequestId(reply, requestId), ready };
        }
        case 'unsubscribe': {
          const result = conn.unsubscribe(message.subscriptionId);
          const text = message.subscriptionId === undefined ? `Unsubscribed from ${result.unsubscribed?.length ?? 0} subscription(s)` : `Unsubscribed from subscription ${message.subscriptionId}`;
          return { reply: withRequestId({ type: 'unsubscribed', ...result, message: text }, requestId) };
        }
        case 'insert': {
          try {
            const { count, firstOffset, lastOffset } = await this.commands.execute(new InsertRecordsCommand(message.target, message.records));
            const text = `${count} record(s) inserted successfully into '${message.target}'`;
            return { reply: withRequestId({ type: 'insert_response', success: true, count, target: message.target, message: text, firstOffset, lastOffset }, requestId) };
          } catch (error) {
            const failure = toJetError(error);
            return { reply: withRequestId({ type: 'insert_response', success: false, error: failure.error.message, code: failure.error.code }, requestId) };
          }
        }
        case 'execute': {
          try {
            const result = await this.executor.execute(message.query, conn.session(requestId));
            return { reply: withRequestId({ type: 'execute_response', success: true, result, message: 'Query executed successfully' }, requestId) };
          } catch (error) {
            const failure = toJetError(error);
            return { reply: withRequestId({ type: 'execute_response', success: false, error: failure.error, message: failure.error.message }, requestId) };
          }
        }
      }
    } catch (error) {
      const message = error instanceof JetProtocolError ? error.message : toJetError(error).error.message;
      return { reply: withRequestId({ type: 'error', message }, requestId) };
    }
  }

  private reply(conn: JetConnection, answer: Promise<{ reply: Reply; ready?: () => void }>, bytes: number): void {
    conn.pending++;
    conn.pendingBytes += bytes;
    conn.replies = conn.replies
      .then(() => answer)
      .then(({ reply, ready }) => {
        conn.send(JSON.stringify(reply));
        ready?.();
      })
      .catch((error: unknown) => this.logger.error(`reply failed: ${(error as Error).stack}`))
      .finally(() => {
        conn.pending--;
        conn.pendingBytes -= bytes;
      });
  }
}

function withRequestId(reply: Reply, requestId: RequestId): Reply {
  return requestId === undefined ? reply : { ...reply, requestId };
}
