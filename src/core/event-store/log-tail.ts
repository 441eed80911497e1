import { Logger } from '@nestjs/common';
import { ThrottledWarning } from '../logging/throttled-warning.js';
import type { EventStore } from './event-store.js';
import type { LogCheckpoint, RecordedEvent } from './event.js';
import { LOG_CHANNEL } from './group-commit.js';

/** `includeOwn`: also deliver what this process wrote (it publishes those itself, so a server skips them). */
export type LogTailOptions = { pollMs: number; pageSize: number; includeOwn?: boolean };

/**
 * Follows the shared log for events other processes wrote: wakes on NOTIFY, polls as a fallback
 * (and to move past transactions that were still open), and never skips a late commit.
 *
 * It skips the rows of the store's current `nodeId` only: after a write whose outcome the store could
 * not learn, the store writes under a new id, so those rows (and any of its own not yet passed) are
 * delivered here too. Consumers drop what they already hold by stream position.
 */
export class LogTail {
  private readonly logger = new Logger(LogTail.name);
  private checkpoint: LogCheckpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  private failingSince: number | undefined;
  private readonly readFailure = new ThrottledWarning(this.logger);

  constructor(
    private readonly store: EventStore,
    private readonly deliver: (events: RecordedEvent[]) => void,
    private readonly options: LogTailOptions = { pollMs: 250, pageSize: 1000 },
  ) {}

  async start(from?: LogCheckpoint): Promise<void> {
    this.checkpoint = from ?? (await this.store.logHead());
    // A commit's NOTIFY names its writer: this process has published its own events already.
    this.unlisten = this.store.db.listen(LOG_CHANNEL, (writer) => {
      if (this.options.includeOwn || writer !== this.store.nodeId) this.wake();
    });
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.unlisten?.().catch(() => undefined);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.catchUp().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async catchUp(): Promise<void> {
    try {
      if (!this.checkpoint) this.checkpoint = await this.store.logHead();
      for (;;) {
        const page = await this.store.readLog(this.checkpoint, { limit: this.options.pageSize, excludeNode: this.options.includeOwn ? undefined : this.store.nodeId });
        this.checkpoint = page.checkpoint;
        if (page.events.length > 0) this.deliver(page.events);
        if (page.scanned < this.options.pageSize || this.stopped) break;
      }
      if (this.failingSince !== undefined) {
        this.logger.log(`log tail: reading the log again after ${Math.round((Date.now() - this.failingSince) / 1000)} s`);
        this.failingSince = undefined;
      }
    } catch (error) {
      // It polls four times a second: one warning when reads start failing, then one every half minute.
      this.failingSince ??= Date.now();
      this.readFailure.warn(`log tail: cannot read the log (${(error as Error).message}); retrying`);
    }
  }
}
