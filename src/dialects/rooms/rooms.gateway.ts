import type { IncomingMessage } from 'node:http';
import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { QueryBus } from '@nestjs/cqrs';
import { WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { GetRoomStreamsQuery } from '../../contexts/rooms/application/commands.js';
import { ROOM_CHANGES } from '../../contexts/rooms/application/room-actors.js';
import type { RoomChange } from '../../contexts/rooms/read-model/room-views.js';
import type { ChannelHub } from '../../core/realtime/channel-hub.js';
import { upgradeContextOf } from '../../core/realtime/upgrade-guard.js';
import { lenientQuery } from './lenient-query.js';
import { CLOSE_GOING_AWAY } from '../../core/realtime/close-codes.js';
import { Heartbeat, sendBounded, type Frame } from '../../core/realtime/socket-guard.js';
import { decodeFrame, encodeFrame, parseClientMessage, ProtocolError, type ClientMessage, type ServerMessage } from './drift-protocol.js';
import { RoomSession } from './room-session.js';
import { RoomUpgradeGuard } from './room-upgrade.guard.js';

export const ROOM_SOCKET_PATH = '/room/:id/connect';

/** Frames one connection may have waiting for their turn; past it (or past MAX_PENDING_BYTES of them) they are answered with an error. */
const MAX_PENDING_FRAMES = 1000;

type Connection = {
  ws: WebSocket;
  roomId: string;
  cbor: boolean;
  debug: boolean;
  /** Frames taken and not yet answered, and their bytes. */
  pending: number;
  pendingBytes: number;
  /** Frames refused since the last refusal was answered: one error, in its turn, tells of all of them. */
  refused: number;
  /** The last push's outcome: a later `get` on this connection waits for it. */
  writes: Promise<unknown>;
  /** Replies leave in frame order. */
  replies: Promise<void>;
};

/** Each change is encoded once per format, however many connections receive it. */
const encodedChanges = new WeakMap<RoomChange, { json?: Frame; cbor?: Frame }>();

/**
 * DriftDB's socket: `/room/:id/connect?cbor=true&debug=true`. Frames of one connection are handled in
 * order; broadcasts come from the rooms read model's change channel, never from the command path.
 */
@WebSocketGateway({ path: ROOM_SOCKET_PATH, upgradeGuard: RoomUpgradeGuard })
export class RoomsGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger(RoomsGateway.name);
  private heartbeat?: Heartbeat;
  private server?: WebSocketServer;
  private readonly sendLimit: number;
  private readonly pendingBytesLimit: number;

  constructor(
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(RoomSession) private readonly session: RoomSession,
    @Inject(ROOM_CHANGES) private readonly changes: ChannelHub<RoomChange>,
    @Inject(ConfigService) private readonly config: ConfigService,
  ) {
    this.sendLimit = config.get('SEND_BUFFER_LIMIT_BYTES')!;
    this.pendingBytesLimit = Math.max(config.get<number>('MAX_PENDING_BYTES')!, config.get<number>('MAX_MESSAGE_BYTES')!);
  }

  afterInit(server: WebSocketServer): void {
    this.heartbeat = new Heartbeat(() => server.clients, this.config.get('HEARTBEAT_MS')!);
    this.server = server;
  }

  /** Shutdown begins here: sockets are told 1001 before the event store stops taking appends. */
  onModuleDestroy(): void {
    this.heartbeat?.stop();
    for (const ws of this.server?.clients ?? []) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  }

  async handleConnection(ws: WebSocket, request: IncomingMessage): Promise<void> {
    const roomId = upgradeContextOf(request).params.id; // the room exists: RoomUpgradeGuard let the upgrade in
    const flags = lenientQuery(request.url ?? '');
    const conn: Connection = { ws, roomId, cbor: flags.get('cbor') === 'true', debug: flags.get('debug') === 'true', pending: 0, pendingBytes: 0, refused: 0, writes: Promise.resolve(), replies: Promise.resolve() };
    this.heartbeat?.watch(ws);
    const unsubscribe = this.changes.subscribe(roomId, (change) => this.deliver(conn, change));
    ws.on('close', unsubscribe);
    // ws closes the socket itself on a protocol error (1009, 1007…): terminating here would lose that close frame.
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(conn, data, isBinary));
    if (conn.debug) await this.sendAllStreams(conn);
  }

  /**
   * Frames start at once, in arrival order (a push reaches its room's mailbox before the next frame is
   * read), while replies go out in frame order; a `get` waits for this connection's earlier pushes.
   */
  private receive(conn: Connection, data: Buffer, isBinary: boolean): void {
    if (conn.pending >= MAX_PENDING_FRAMES || conn.pendingBytes + data.length > this.pendingBytesLimit) {
      // Answered after the replies already queued, never before them; a flood costs one queued error.
      if (conn.refused++ === 0) {
        conn.replies = conn.replies.then(() => {
          const refused = conn.refused;
          conn.refused = 0;
          this.send(conn, {
            type: 'error',
            message: `too many messages in flight (over ${MAX_PENDING_FRAMES} or ${this.pendingBytesLimit} bytes); ${refused === 1 ? 'message' : `${refused} messages`} not applied`,
          });
        });
      }
      return;
    }
    let message: ClientMessage;
    try {
      message = parseClientMessage(decodeFrame(data, isBinary));
    } catch (error) {
      const reason = error instanceof ProtocolError ? error.message : 'message could not be read';
      if (!(error instanceof ProtocolError)) this.logger.error(`frame handling failed: ${(error as Error).stack}`);
      this.reply(conn, Promise.resolve({ type: 'error', message: reason }), data.length);
      return;
    }
    if (message.type === 'push') {
      const answer = this.session.handle(conn.roomId, message);
      conn.writes = answer;
      this.reply(conn, answer, data.length);
    } else if (message.type === 'get') {
      const get = message;
      this.reply(conn, conn.writes.then(() => this.session.handle(conn.roomId, get)), data.length);
    } else {
      this.reply(conn, this.session.handle(conn.roomId, message), data.length);
    }
  }

  private reply(conn: Connection, answer: Promise<ServerMessage | null>, bytes = 0): void {
    conn.pending++;
    conn.pendingBytes += bytes;
    conn.replies = conn.replies
      .then(() => answer)
      .then((reply) => {
        if (reply) this.send(conn, reply);
      })
      .catch((error) => this.logger.error(`reply failed: ${(error as Error).stack}`))
      .finally(() => {
        conn.pending--;
        conn.pendingBytes -= bytes;
      });
  }

  private deliver(conn: Connection, change: RoomChange): void {
    const { event } = change;
    if (conn.debug && event.type !== 'MessageRelayed') {
      // A debug reader sees the whole key after every change to it, compactions included.
      this.reply(conn, this.session.handle(conn.roomId, { type: 'get', key: event.data.key, seq: 0 }));
      return;
    }
    if (event.type === 'StreamCompacted') return;
    let cache = encodedChanges.get(change);
    if (!cache) encodedChanges.set(change, (cache = {}));
    const format = conn.cbor ? 'cbor' : 'json';
    const { key, value, seq, binary } = event.data;
    const frame = (cache[format] ??= encodeFrame({ type: 'push', key, value, seq, binary }, conn.cbor));
    sendBounded(conn.ws, frame, this.sendLimit);
  }

  private async sendAllStreams(conn: Connection): Promise<void> {
    try {
      const streams = await this.queries.execute(new GetRoomStreamsQuery(conn.roomId));
      for (const [key, data] of streams) this.send(conn, { type: 'init', key, data });
    } catch (error) {
      this.send(conn, { type: 'error', message: `could not read the room: ${(error as Error).message}` });
    }
  }

  private send(conn: Connection, message: ServerMessage): void {
    sendBounded(conn.ws, encodeFrame(message, conn.cbor), this.sendLimit);
  }
}
