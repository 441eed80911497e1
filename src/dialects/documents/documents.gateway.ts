import { randomUUID } from 'node:crypto';
import { Inject, Logger, type OnModuleDestroy, type Type } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { QueryBus } from '@nestjs/cqrs';
import { WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { WatchDocumentsQuery, type DocCondition, type DocumentWatch, type WatchedChange } from '../../contexts/collections/documents/document-commands.js';
import { VerifyPasswordStampQuery, type Credentials, type Identity } from '../../contexts/identity/application/authenticate.query.js';
import { IdentityError } from '../../contexts/identity/domain/identity-errors.js';
import { CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER } from '../../core/realtime/close-codes.js';
import { Heartbeat, sendBounded } from '../../core/realtime/socket-guard.js';
import { JxpAuthenticator } from './auth/jxp-authenticator.js';
import { DocumentsService, present } from './documents.service.js';
import { JxpError } from './jxp-errors.js';
import { parseQueryBody, matches } from './list-query.js';
import { grantCovers, grantOf } from './perms.js';

/** Frames one connection may have read and not yet answered; past it they are refused. */
const MAX_PENDING_FRAMES = 256;

/** Who a change that names no writer is attributed to: SQL (with SQL auth off, an admin named `sql`). */
export const SQL_WRITER = { user_id: null, user_name: 'sql', user_email: null };

type Push = 'post' | 'put' | 'del';
type Subscription = { model: string; id?: string; conditions: DocCondition[]; watch?: DocumentWatch; held?: string[]; closed: boolean };

class SocketError extends Error {}

/** Which push (if any) a row's change is, and the document it is judged by (after; before for a del). */
export function classify(change: WatchedChange): { event: Push; judged: Record<string, unknown>; item: Record<string, unknown> } | undefined {
  const { before, after } = change;
  const liveBefore = before !== null && before._deleted !== true;
  const liveAfter = after !== null && after._deleted !== true;
  if (liveAfter) return { event: before === null ? 'post' : 'put', judged: after!, item: after! };
  if (liveBefore) return { event: 'del', judged: before!, item: after ?? before! };
  return undefined;
}

/**
 * What an `auth` proved, to check again later: an API key or token as given; for a password, the user and
 * a stamp of the password's hash (the password is not kept), so that a new password ends the connection.
 */
type Proof = Readonly<{ credentials: Credentials }> | Readonly<{ userId: string; stamp: string }>;

class JxpConnection {
  readonly clientId = randomUUID();
  identity: Identity | null = null;
  proof?: Proof;
  address = 'unknown';
  readonly subscriptions = new Map<string, Subscription>();
  pending = 0;
  replies: Promise<void> = Promise.resolve();
  constructor(readonly ws: WebSocket) {}
}

/** `<prefix>/websocket`: JXP's socket (ping, auth, subscribe, unsubscribe), every push checked against the subscriber's read permission. */
export function documentsGateway(prefix: string): Type {
  @WebSocketGateway({ path: `${prefix}/websocket` })
  class JxpGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
    private readonly logger = new Logger('JxpGateway');
    private heartbeat?: Heartbeat;
    private server?: WebSocketServer;
    private readonly sendLimit: number;
    private readonly maxSubscriptions: number;
    private readonly connections = new Set<JxpConnection>();
    private reauthTimer?: NodeJS.Timeout;
    private reauthing = false;

    constructor(
      @Inject(QueryBus) private readonly queries: QueryBus,
      @Inject(JxpAuthenticator) private readonly auth: JxpAuthenticator,
      @Inject(DocumentsService) private readonly documents: DocumentsService,
      @Inject(ConfigService) private readonly config: ConfigService,
    ) {
      this.sendLimit = config.get<number>('SEND_BUFFER_LIMIT_BYTES')!;
      this.maxSubscriptions = Number(config.get('DOCUMENTS_MAX_SUBSCRIPTIONS') ?? 64);
    }

    afterInit(server: WebSocketServer): void {
      this.server = server;
      this.heartbeat = new Heartbeat(() => server.clients, this.config.get<number>('HEARTBEAT_MS')!);
      this.reauthTimer = setInterval(() => void this.reauthenticate(), Number(this.config.get('DOCUMENTS_REAUTH_MS') ?? 10_000));
      this.reauthTimer.unref();
    }

    onModuleDestroy(): void {
      this.heartbeat?.stop();
      clearInterval(this.reauthTimer);
      for (const ws of this.server?.clients ?? []) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
    }

    handleConnection(ws: WebSocket, request?: IncomingMessage): void {
      const conn = new JxpConnection(ws);
      conn.address = request?.socket?.remoteAddress ?? 'unknown';
      this.heartbeat?.watch(ws);
      this.connections.add(conn);
      ws.on('close', () => {
        this.connections.delete(conn);
        for (const s of conn.subscriptions.values()) this.detach(s);
        conn.subscriptions.clear();
      });
      ws.on('error', () => undefined);
      ws.on('message', (data: Buffer) => this.receive(conn, data));
    }

    private send(conn: JxpConnection, value: unknown): void {
      sendBounded(conn.ws, { data: Buffer.from(JSON.stringify(value)), binary: false }, this.sendLimit);
    }

    private receive(conn: JxpConnection, data: Buffer): void {
      if (conn.pending >= MAX_PENDING_FRAMES) {
        this.send(conn, { status: 'error', message: `Too many messages in flight (over ${MAX_PENDING_FRAMES})` });
        return;
      }
      conn.pending++;
      conn.replies = conn.replies
        .then(() => this.answer(conn, data))
        .catch((error: unknown) => this.logger.error(`reply failed: ${(error as Error).stack}`))
        .finally(() => conn.pending--);
    }

    private async answer(conn: JxpConnection, data: Buffer): Promise<void> {
      let message: unknown;
      try {
        message = JSON.parse(data.toString('utf8'));
      } catch {
        return this.send(conn, { status: 'error', message: 'Unable to parse message' });
      }
      if (message === null || typeof message !== 'object' || Array.isArray(message)) return this.send(conn, { status: 'error', message: 'Unable to parse message' });
      const { action, msg_id: msgId, data: payload } = message as { action?: unknown; msg_id?: unknown; data?: unknown };
      if (action === undefined || action === null || action === '') return this.send(conn, { status: 'error', message: 'missing action', msg_id: msgId });
      if (msgId === undefined || msgId === null || msgId === '') return this.send(conn, { status: 'error', message: 'missing msg_id' });
      const body = payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : {};
      const ok = (result: unknown) => this.send(conn, { action, status: 'okay', client_id: conn.clientId, msg_id: msgId, result });
      try {
        switch (action) {
          case 'ping':
            return ok('pong!');
          case 'auth': {
            const { identity, proof } = await this.authenticate(body, conn.address);
            conn.identity = identity;
            conn.proof = proof;
            return ok('Authed');
          }
          case 'subscribe': {
            const { result, start } = await this.subscribe(conn, body);
            ok(result);
            start?.();
            return;
          }
          case 'unsubscribe':
            return ok(this.unsubscribe(conn, body));
          default:
            return this.send(conn, { status: 'error', message: `action ${typeof action === 'string' ? action : JSON.stringify(action)} not implemented`, msg_id: msgId });
        }
      } catch (error) {
        const text = error instanceof SocketError || (error as { code?: unknown }).code === 'BadRequest' ? (error as Error).message : action === 'auth' ? 'Unable to authenticate' : 'Internal error';
        if (!(error instanceof SocketError) && action !== 'auth' && (error as { code?: unknown }).code !== 'BadRequest') this.logger.error(`${String(action)} failed: ${(error as Error).stack}`);
        return this.send(conn, { status: 'error', message: text, msg_id: msgId });
      }
    }

    private async authenticate(data: Record<string, unknown>, address: string): Promise<{ identity: Identity; proof: Proof }> {
      let credentials: Credentials;
      if (typeof data.email === 'string' && typeof data.password === 'string') credentials = { basic: { email: data.email, password: data.password } };
      else if (typeof data.apikey === 'string') credentials = { apikey: data.apikey };
      else if (typeof data.token === 'string') credentials = { bearer: data.token };
      else throw new SocketError('Unable to authenticate');
      try {
        const identity = await this.auth.authenticateCredentials(credentials, address);
        return { identity, proof: credentials.basic ? { userId: identity.userId, stamp: identity.passwordStamp ?? '' } : { credentials } };
      } catch (error) {
        // Never the thrown text (it may hold credentials); only a rate limit is told as such.
        if (error instanceof JxpError && error.code === 'TooManyRequests') throw new SocketError('Too many login attempts; try again later');
        throw new SocketError('Unable to authenticate');
      }
    }

    /**
     * Every DOCUMENTS_REAUTH_MS, each authenticated connection's proof is checked again (one at a time, no
     * login limits: nothing is guessed). A revoked or expired key or token, a changed password (for a
     * connection that authenticated with the password), or a deleted user, ends the
     * connection's authentication and its subscriptions, and the client is told; a user's new rights (admin,
     * groups) apply from then on. A failure that is not about the credential (the database) changes nothing.
     */
    private async reauthenticate(): Promise<void> {
      if (this.reauthing) return;
      this.reauthing = true;
      try {
        for (const conn of [...this.connections]) {
          const proof = conn.proof;
          if (!proof || !conn.identity) continue;
          let fresh: Identity | null;
          try {
            if ('userId' in proof) fresh = await this.queries.execute(new VerifyPasswordStampQuery(proof.userId, proof.stamp));
            else fresh = await this.auth.authenticateCredentials(proof.credentials);
          } catch (error) {
            if (!(error instanceof IdentityError) && !(error instanceof JxpError && error.code === 'Forbidden')) {
              this.logger.warn(`checking a socket's credential failed: ${(error as Error).message}`);
              continue;
            }
            fresh = null;
          }
          if (conn.proof !== proof) continue; // authenticated again meanwhile
          if (fresh) {
            conn.identity = fresh;
            continue;
          }
          conn.identity = null;
          conn.proof = undefined;
          for (const s of conn.subscriptions.values()) this.detach(s);
          conn.subscriptions.clear();
          this.send(conn, { action: 'auth', status: 'error', message: 'Unable to authenticate: the credential was revoked or expired; subscriptions ended' });
        }
      } finally {
        this.reauthing = false;
      }
    }

    private target(data: Record<string, unknown>): { model: string; id?: string; key: string } {
      if (typeof data.model !== 'string' || data.model === '') throw new SocketError('missing model');
      if (data.id !== undefined && typeof data.id !== 'string') throw new SocketError('id must be a string');
      const id = data.id as string | undefined;
      return { model: data.model, id, key: id ? `${data.model}/${id}` : data.model };
    }

    private async subscribe(conn: JxpConnection, data: Record<string, unknown>): Promise<{ result: string; start?: () => void }> {
      if (!conn.identity) throw new SocketError('User not authenticated');
      const { model: name, id, key } = this.target(data);
      const model = this.documents.models.get(name);
      if (!model) throw new SocketError(`Model ${name} not found`);
      const grant = grantOf(model.perms, conn.identity, 'r');
      if (grant.kind === 'denied') throw new SocketError(grant.message);
      if (conn.subscriptions.has(key)) return { result: 'Already subscribed' };
      if (conn.subscriptions.size >= this.maxSubscriptions) throw new SocketError(`Too many subscriptions (at most ${this.maxSubscriptions})`);
      if (data.filter !== undefined && (data.filter === null || typeof data.filter !== 'object' || Array.isArray(data.filter))) throw new SocketError('filter must be an object');
      const conditions = parseQueryBody(model, data.filter ?? {});
      const from = data.fromPosition;
      if (from !== undefined && (typeof from !== 'number' || !Number.isInteger(from) || from < 0)) throw new SocketError('fromPosition must be a non-negative integer');
      const subscription: Subscription = { model: name, id, conditions, held: [], closed: false };
      conn.subscriptions.set(key, subscription);
      try {
        subscription.watch = await this.queries.execute(
          new WatchDocumentsQuery(name, (from as number | undefined) ?? null, (change) => this.push(conn, subscription, change), () => {
            conn.ws.close(CLOSE_TRY_AGAIN_LATER, 'slow consumer: too many changes waiting');
          }),
        );
      } catch (error) {
        conn.subscriptions.delete(key);
        throw error;
      }
      if (subscription.closed) subscription.watch.close();
      return {
        result: `Subscribed to ${key}`,
        start: () => {
          const held = subscription.held ?? [];
          subscription.held = undefined;
          for (const frame of held) sendBounded(conn.ws, { data: Buffer.from(frame), binary: false }, this.sendLimit);
        },
      };
    }

    private unsubscribe(conn: JxpConnection, data: Record<string, unknown>): string {
      const { key } = this.target(data);
      const subscription = conn.subscriptions.get(key);
      if (!subscription) throw new SocketError(`Not subscribed to ${key}`);
      conn.subscriptions.delete(key);
      this.detach(subscription);
      return `Unsubscribed to ${key}`; // JXP's wording
    }

    private detach(subscription: Subscription): void {
      subscription.closed = true;
      subscription.held = undefined;
      subscription.watch?.close();
    }

    private push(conn: JxpConnection, subscription: Subscription, change: WatchedChange): void {
      if (subscription.closed) return;
      if (subscription.id !== undefined && change.id !== subscription.id) return;
      const push = classify(change);
      if (!push) return;
      if (subscription.id !== undefined && push.event === 'post') return;
      const model = this.documents.models.get(subscription.model);
      if (!model) return;
      // Judged with the subscriber's rights now, on the document after the change (before it, for a del).
      const grant = grantOf(model.perms, conn.identity, 'r');
      if (!grantCovers(grant, push.judged)) return;
      if (!matches(push.judged, subscription.conditions)) return;
      const writer = change.writer
        ? { user_id: change.writer.userId, user_name: change.writer.name, user_email: change.writer.email }
        : SQL_WRITER;
      const frame = JSON.stringify({
        client_id: conn.clientId,
        data: { event: push.event, modelname: subscription.model, item: present({ id: change.id, doc: push.item, version: 0 }), ...writer },
        position: change.position,
      });
      if (subscription.held) subscription.held.push(frame);
      else sendBounded(conn.ws, { data: Buffer.from(frame), binary: false }, this.sendLimit);
    }
  }
  return JxpGateway;
}
