import { Logger } from '@nestjs/common';
import { sqlLiteral } from './sql-literal.js';

/** A lock held by this process; `released` settles when it is released or the session holding it is lost. */
export type HeldLock = { released: Promise<void>; release(): Promise<void> };

export type SessionClient = {
  query(sql: string): Promise<{ rows: Record<string, unknown>[] }>;
  on(event: 'notification', cb: (msg: { channel: string; payload?: string }) => void): void;
  on(event: 'error' | 'end', cb: (error?: unknown) => void): void;
};

/** Hands out a connection of its own and the function that gives it back (with an error: it is dropped). */
export type SessionConnector = () => Promise<[SessionClient, (error?: unknown) => void]>;

type Session = { client: SessionClient; drop: (error?: unknown) => void; tail: Promise<unknown> };
type Lock = { key: string; lost: () => void };

const RECONNECT_MS = 1000;

/** One statement at a time on the session (a pg client must not be handed a query while one runs). */
function run(session: Session, sql: string): Promise<{ rows: Record<string, unknown>[] }> {
  const result = session.tail.then(() => session.client.query(sql));
  session.tail = result.catch(() => undefined);
  return result;
}

/**
 * The one long-lived connection a process keeps for session state: every LISTEN and every session
 * advisory lock share it, so none of them holds a pooled connection for good (a pool of ten would
 * otherwise lose one to each projector and each listener). When it is lost, every lock's `released`
 * settles (PostgreSQL freed them with the session) and it reconnects, listening again, while anyone
 * listens; notifications sent meanwhile are missed, so listeners pair it with polling.
 */
export class SessionConnection {
  private readonly logger = new Logger(SessionConnection.name);
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private readonly locks = new Map<string, Lock>();
  private session?: Session;
  private connecting?: Promise<Session>;
  private retry?: NodeJS.Timeout;

  constructor(private readonly connect: SessionConnector) {}

  /** Calls `onNotify` with each notification on `channel`; returns a function that stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): () => Promise<void> {
    let handlers = this.listeners.get(channel);
    const first = !handlers;
    if (!handlers) this.listeners.set(channel, (handlers = new Set()));
    handlers.add(onNotify);
    if (first) void this.open().then((s) => run(s, `LISTEN ${channel}`)).catch(() => this.reconnectLater());
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(onNotify) || current.size > 0) return;
      this.listeners.delete(channel);
      if (this.session) await run(this.session, `UNLISTEN ${channel}`).catch(() => undefined);
      this.closeIfIdle();
    };
  }

  /** Takes the advisory lock `name` if nobody holds it (in this process or another); undefined if someone does. */
  async tryLock(name: string): Promise<HeldLock | undefined> {
    if (this.locks.has(name)) return undefined; // session locks nest: this process holds it already
    let session: Session;
    try {
      session = await this.open();
    } catch (error) {
      this.closeIfIdle();
      throw error;
    }
    const key = `hashtextextended(${sqlLiteral(name)}, 0)`;
    const [row] = (await run(session, `SELECT pg_try_advisory_lock(${key}) AS taken`)).rows;
    if (!row?.taken) {
      this.closeIfIdle();
      return undefined;
    }
    if (this.session !== session) return undefined; // lost while asking: PostgreSQL freed it
    let lost!: () => void;
    const released = new Promise<void>((resolve) => (lost = resolve));
    this.locks.set(name, { key, lost });
    return {
      released,
      release: async () => {
        const held = this.locks.get(name);
        if (held?.lost !== lost) return;
        this.locks.delete(name);
        if (this.session) await run(this.session, `SELECT pg_advisory_unlock(${key})`).catch(() => undefined);
        lost();
        this.closeIfIdle();
      },
    };
  }

  /** Gives the connection back, releasing every lock and listener (at shutdown). */
  close(): void {
    clearTimeout(this.retry);
    this.listeners.clear();
    this.lose();
  }

  /**
   * The session, connecting if there is none. A new connection listens on every channel before anyone
   * uses it, whoever opened it (a lock taken during an outage must not leave the listeners deaf); if
   * that fails, the connection is dropped and, while anyone listens, tried again later.
   */
  private open(): Promise<Session> {
    if (this.session) return Promise.resolve(this.session);
    this.connecting ??= (async () => {
      const [client, release] = await this.connect();
      let dropped = false;
      const session: Session = {
        client,
        tail: Promise.resolve(),
        drop: (error?: unknown) => {
          if (dropped) return;
          dropped = true;
          release(error ?? true);
        },
      };
      client.on('notification', (msg) => this.listeners.get(msg.channel)?.forEach((handler) => handler(msg.payload ?? '')));
      client.on('error', (error) => this.lost(session, error));
      client.on('end', () => this.lost(session));
      this.session = session;
      try {
        for (const channel of [...this.listeners.keys()]) await run(session, `LISTEN ${channel}`);
      } catch (error) {
        if (this.session === session) this.lose(error);
        throw error;
      }
      return session;
    })()
      .catch((error: unknown) => {
        this.reconnectLater();
        throw error;
      })
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private lost(session: Session, error?: unknown): void {
    if (this.session !== session) return;
    if (this.locks.size > 0) this.logger.warn(`session connection lost (${(error as Error | undefined)?.message ?? 'closed'}): its ${this.locks.size} lock(s) are freed`);
    this.lose(error);
    this.reconnectLater();
  }

  private lose(error?: unknown): void {
    const session = this.session;
    this.session = undefined;
    session?.drop(error);
    const locks = [...this.locks.values()];
    this.locks.clear();
    for (const lock of locks) lock.lost();
  }

  private reconnectLater(): void {
    if (this.retry || this.listeners.size === 0) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.listeners.size === 0 || this.session) return;
      void this.open().catch(() => undefined); // a failed open schedules the next try itself
    }, RECONNECT_MS);
    this.retry.unref();
  }

  private closeIfIdle(): void {
    if (this.listeners.size === 0 && this.locks.size === 0 && !this.connecting) this.lose();
  }
}
