import { Logger } from '@nestjs/common';
import type { EventStore } from '../event-store/event-store.js';
import { isTransient, type EventFeed, type FeedEvent } from './event-feed.js';

/**
 * `initial` is true for the events of the first catch-up (the state as it was when subscribing), false
 * for everything after, whether it came live or was read from the log (to fill a gap, or because the
 * first read failed and was retried while new events arrived).
 */
export type StreamEventHandler = (event: FeedEvent, initial: boolean) => void;

export type StreamSubscriptionOptions = {
  /** Rows per read of the log. */
  pageSize: number;
  /** Most live events held while the log is read; past it they are dropped and read from the log instead. */
  maxHeld: number;
  /** First wait before reading the log again after a failed read or a handler that threw (doubles, to `maxRetryMs`). */
  retryMs: number;
  maxRetryMs: number;
};

export const DEFAULT_SUBSCRIPTION_OPTIONS: StreamSubscriptionOptions = { pageSize: 1000, maxHeld: 10_000, retryMs: 100, maxRetryMs: 5000 };

/**
 * Subscriptions to one stream from a position: every event after it, read from the log (catch-up), then
 * live from the feed, in stream order with no gap and no duplicate, whichever process wrote them. A gap
 * in what arrives live (another process's events not heard yet, a delivery that failed) is read from the
 * log. Transient events are slotted after the stored position they follow.
 */
export class StreamSubscriptions {
  private readonly logger = new Logger(StreamSubscriptions.name);
  private readonly byStream = new Map<string, Set<StreamSubscription>>();
  private readonly unsubscribe: () => void;

  constructor(
    readonly store: EventStore,
    feed: EventFeed,
    readonly options: StreamSubscriptionOptions = DEFAULT_SUBSCRIPTION_OPTIONS,
  ) {
    this.unsubscribe = feed.subscribe((events) => this.route(events));
  }

  subscribe(streamId: string, after: number, handler: StreamEventHandler): StreamSubscription {
    const subscription = new StreamSubscription(streamId, after, handler, this, this.logger);
    let set = this.byStream.get(streamId);
    if (!set) this.byStream.set(streamId, (set = new Set()));
    set.add(subscription);
    subscription.start();
    return subscription;
  }

  /** How many streams have a subscription here. */
  get streams(): number {
    return this.byStream.size;
  }

  stop(): void {
    this.unsubscribe();
    for (const set of this.byStream.values()) for (const subscription of set) subscription.close();
  }

  /** @internal */
  remove(subscription: StreamSubscription): void {
    const set = this.byStream.get(subscription.streamId);
    if (!set?.delete(subscription)) return;
    if (set.size === 0) this.byStream.delete(subscription.streamId);
  }

  private route(events: readonly FeedEvent[]): void {
    for (const event of events) {
      const set = this.byStream.get(event.streamId);
      if (set) for (const subscription of set) subscription.receive(event);
    }
  }
}

export class StreamSubscription {
  /** The stream position of the last stored event handled. */
  position: number;
  private readonly held: FeedEvent[] = [];
  private reading = false;
  /** A refresh came while a read was running (which may have started before what it wants to see): read once more. */
  private readAgain = false;
  private closed = false;
  private initialDone = false;
  /** The first stored position heard live: from there on, nothing counts as initial, even if read from the log. */
  private liveFrom = Infinity;
  private failures = 0;
  private retry?: NodeJS.Timeout;
  private readonly caughtUpWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    readonly streamId: string,
    after: number,
    private readonly handler: StreamEventHandler,
    private readonly hub: StreamSubscriptions,
    private readonly logger: Logger,
  ) {
    this.position = after;
  }

  /** @internal */
  start(): void {
    void this.read();
  }

  /** Whether the first catch-up has finished. */
  get caughtUp(): boolean {
    return this.initialDone;
  }

  /**
   * Resolves when the subscription has read the log up to where live events take over: at once when it
   * already has. Rejects if a read of the log failed meanwhile (it keeps retrying; ask again).
   */
  whenCaughtUp(): Promise<void> {
    if (this.initialDone && !this.reading && !this.retry) return Promise.resolve();
    return new Promise((resolve, reject) => this.caughtUpWaiters.push({ resolve, reject }));
  }

  /**
   * Reads the log now, for what other processes committed that this process has not heard yet (their
   * commits reach it through the log tail, a moment later): resolves once everything committed before
   * the call is handled. A reader that must see another server's acknowledged write calls this.
   */
  refresh(): Promise<void> {
    if (this.reading) this.readAgain = true;
    else void this.read();
    return this.whenCaughtUp();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    this.held.length = 0;
    this.hub.remove(this);
    for (const waiter of this.caughtUpWaiters.splice(0)) waiter.reject(new Error('subscription closed'));
  }

  /** @internal An event from the feed. */
  receive(event: FeedEvent): void {
    if (this.closed) return;
    if (!this.initialDone && !isTransient(event)) this.liveFrom = Math.min(this.liveFrom, event.streamPosition);
    if (this.reading || this.retry) return this.hold(event);
    if (isTransient(event) ? event.afterPosition <= this.position : event.streamPosition <= this.position + 1) {
      this.deliver(event);
      return;
    }
    // A gap: events this process has not heard of yet (another process wrote them); read them from the log.
    this.hold(event);
    void this.read();
  }

  private hold(event: FeedEvent): void {
    if (this.held.length < this.hub.options.maxHeld) {
      this.held.push(event);
      return;
    }
    // Bounded: stored events need no holding, the log has them; only relays (never stored) are lost here.
    const relays = this.held.filter(isTransient).length;
    this.held.length = 0;
    this.logger.warn(`${this.streamId}: over ${this.hub.options.maxHeld} events arrived while reading the log; reading them from the log instead${relays > 0 ? ` (${relays} relayed messages dropped)` : ''}`);
  }

  private deliver(event: FeedEvent): boolean {
    if (!isTransient(event)) {
      if (event.streamPosition <= this.position) return true; // already handled (read from the log, or heard twice)
    }
    try {
      this.handler(event, !this.initialDone && !isTransient(event) && event.streamPosition < this.liveFrom);
    } catch (error) {
      // Not handled, so not passed: the log has it, and it is read again from there after a pause.
      this.logger.error(`${this.streamId}: handler failed at ${isTransient(event) ? `a relay after ${event.afterPosition}` : event.streamPosition}: ${(error as Error).message}`);
      this.scheduleRead();
      return false;
    }
    if (!isTransient(event)) this.position = event.streamPosition;
    return true;
  }

  /** Reads the log after `position`, then whatever was held meanwhile, in order. */
  private async read(): Promise<void> {
    if (this.reading || this.closed) return;
    this.reading = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    try {
      do {
        this.readAgain = false;
        for (;;) {
          const page = await this.hub.store.readStream(this.streamId, { after: this.position, limit: this.hub.options.pageSize });
          for (const event of page) if (this.closed || !this.deliver(event)) return;
          if (page.length < this.hub.options.pageSize) break;
        }
      } while (this.readAgain);
    } catch (error) {
      this.failed(error);
      return;
    } finally {
      this.reading = false;
    }
    if (this.closed || this.retry) return;
    this.failures = 0;
    this.initialDone = true;
    if (this.drainHeld()) for (const waiter of this.caughtUpWaiters.splice(0)) waiter.resolve();
  }

  /** Whether all held events found their place; else a read of the log is on its way. */
  private drainHeld(): boolean {
    this.held.sort((a, b) => orderOf(a) - orderOf(b));
    while (this.held.length > 0) {
      const next = this.held[0];
      if (!isTransient(next) && next.streamPosition > this.position + 1) {
        // Still ahead of the log as read: its predecessors are committed but not visible yet. Look again shortly.
        this.scheduleRead(true);
        return false;
      }
      this.held.shift();
      // A relay that follows a position the log does not have yet has nothing more to wait for.
      if (!this.deliver(next)) return false;
    }
    return true;
  }

  private failed(error: unknown): void {
    this.failures++;
    if (this.failures === 1 || this.failures % 20 === 0) this.logger.warn(`${this.streamId}: cannot read the log (${(error as Error).message}); retrying`);
    for (const waiter of this.caughtUpWaiters.splice(0)) waiter.reject(error);
    this.scheduleRead();
  }

  private scheduleRead(gap = false): void {
    if (this.closed || this.retry) return;
    const { retryMs, maxRetryMs } = this.hub.options;
    const delay = gap ? retryMs : Math.min(maxRetryMs, retryMs * 2 ** Math.min(this.failures, 10));
    if (!gap) this.failures++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.read();
    }, delay);
    this.retry.unref();
  }
}

/** Stored events by position; a transient one just after the position it follows. */
function orderOf(event: FeedEvent): number {
  return isTransient(event) ? event.afterPosition + 0.5 : event.streamPosition;
}
