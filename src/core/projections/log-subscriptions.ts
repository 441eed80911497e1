import { Logger } from '@nestjs/common';
import type { Database } from '../database/database.js';
import type { LogCheckpoint, RecordedEvent } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import { LOG_CHANNEL } from '../event-store/group-commit.js';
import type { EventFeed } from './event-feed.js';
import { checkpointOf } from './log-position.js';
import { selects, type EventSelection } from './projector.js';

export type LogSubscriptionOptions = { pageSize: number; pollMs: number; retryMs: number };

export const DEFAULT_LOG_SUBSCRIPTION_OPTIONS: LogSubscriptionOptions = { pageSize: 500, pollMs: 250, retryMs: 500 };

/**
 * Subscriptions across streams (by prefix and/or type) from a log checkpoint: every selected event after
 * it, in the log's tail-safe order (per stream, position order), read page by page whether it is old or
 * new, so catch-up and live are one loop with no gap or duplicate, across processes. Readers are woken by
 * this process's commits, other processes' (NOTIFY) and a poll; nothing is buffered beyond one page.
 */
export class LogSubscriptions {
  private readonly subscriptions = new Set<LogSubscription>();
  private readonly unsubscribe: () => void;
  private readonly unlisten: () => Promise<void>;

  constructor(
    readonly store: EventStore,
    db: Database,
    feed: EventFeed,
    readonly options: LogSubscriptionOptions = DEFAULT_LOG_SUBSCRIPTION_OPTIONS,
  ) {
    this.unsubscribe = feed.subscribe((events) => {
      if (events.some((e) => !('transient' in e))) this.wakeAll();
    });
    this.unlisten = db.listen(LOG_CHANNEL, () => this.wakeAll());
  }

  /** `handler` may return a promise: the next page waits for it (a slow consumer slows only itself). */
  subscribe(selection: EventSelection, after: LogCheckpoint, handler: (event: RecordedEvent) => void | Promise<void>): LogSubscription {
    const subscription = new LogSubscription(selection, after, handler, this, new Logger(LogSubscriptions.name));
    this.subscriptions.add(subscription);
    subscription.wake();
    return subscription;
  }

  /** @internal */
  remove(subscription: LogSubscription): void {
    this.subscriptions.delete(subscription);
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    await this.unlisten().catch(() => undefined);
    for (const subscription of this.subscriptions) subscription.close();
  }

  private wakeAll(): void {
    for (const subscription of this.subscriptions) subscription.wake();
  }
}

export class LogSubscription {
  private running = false;
  private again = false;
  private closed = false;
  private readonly poll: NodeJS.Timeout;

  constructor(
    private readonly selection: EventSelection,
    /** The checkpoint of the last event read (handled, or not selected). */
    public position: LogCheckpoint,
    private readonly handler: (event: RecordedEvent) => void | Promise<void>,
    private readonly hub: LogSubscriptions,
    private readonly logger: Logger,
  ) {
    this.poll = setInterval(() => this.wake(), hub.options.pollMs);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    this.hub.remove(this);
  }

  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.read().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async read(): Promise<void> {
    const { pageSize, retryMs } = this.hub.options;
    while (!this.closed) {
      let page;
      try {
        page = await this.hub.store.readLog(this.position, { limit: pageSize });
      } catch (error) {
        this.logger.warn(`cannot read the log (${(error as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, retryMs));
        continue;
      }
      for (const event of page.events) {
        if (this.closed) return;
        if (selects(this.selection, event)) {
          try {
            await this.handler(event);
          } catch (error) {
            // Not passed: read again from here after a pause.
            this.logger.error(`handler failed at ${event.globalPosition}: ${(error as Error).message}`);
            await new Promise((r) => setTimeout(r, retryMs));
            this.again = true;
            return;
          }
        }
        this.position = checkpointOf(event);
      }
      this.position = page.checkpoint;
      if (page.scanned < pageSize) return;
    }
  }
}
