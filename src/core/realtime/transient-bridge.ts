import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Database } from '../database/database.js';
import { ThrottledWarning } from '../logging/throttled-warning.js';
import { ChunkAssembler } from './chunk-assembler.js';
import { isTransient, type EventFeed, type FeedEvent, type TransientEvent } from '../projections/event-feed.js';

export const TRANSIENT_CHANNEL = 'tideline_transient';
/** Raw bytes per NOTIFY: base64 makes it 4/3 larger, well under PostgreSQL's 8000-byte payload cap. */
const CHUNK_BYTES = 5400;
const PARTIAL_TTL_MS = 10_000;
/** Relays waiting to be forwarded to other servers, at most (bytes, roughly). */
const MAX_OUTBOX_BYTES = 8 * 1024 * 1024;

/** Largest relay batch a receiver reassembles; NOTIFY payloads past it are not from a Tideline sender. */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/**
 * Carries transient events (relays: published, never stored) to the other server processes on the same
 * PostgreSQL, over NOTIFY. A batch is split into base64 chunks sent in one statement, so chunks of one
 * batch arrive together and in order whatever the payload size; receivers reassemble and publish them.
 */
export class TransientBridge {
  private readonly logger = new Logger(TransientBridge.name);
  private readonly origin = randomUUID();
  /** Relays waiting to be forwarded, each as the JSON it is sent as (serialised once; its length is its size). */
  private outbox: string[] = [];
  private outboxBytes = 0;
  private dropped = 0;
  private droppedReportedAt = 0;
  private sending = false;
  private flushScheduled = false;
  private readonly assembler = new ChunkAssembler({
    maxMessageBytes: MAX_BATCH_BYTES,
    chunkBytes: CHUNK_BYTES,
    maxPartials: 256,
    maxPartialBytes: 2 * MAX_OUTBOX_BYTES,
    ttlMs: PARTIAL_TTL_MS,
  });
  private pruner?: NodeJS.Timeout;
  private readonly refusedChunks = new ThrottledWarning(this.logger);
  private unsubscribe?: () => void;
  private unlisten?: () => Promise<void>;

  constructor(
    private readonly db: Database,
    private readonly feed: EventFeed,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = this.feed.subscribe((events) => this.collect(events));
    this.unlisten = this.db.listen(TRANSIENT_CHANNEL, (payload) => this.receive(payload));
    this.pruner = setInterval(() => this.assembler.prune(), PARTIAL_TTL_MS / 2);
    this.pruner.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.pruner);
    this.unsubscribe?.();
    await this.unlisten?.().catch(() => undefined);
  }

  private collect(events: readonly FeedEvent[]): void {
    for (const event of events) {
      if (!isTransient(event) || event.remote) continue;
      const json = JSON.stringify(event);
      this.outbox.push(json);
      this.outboxBytes += json.length;
    }
    // Bounded: past the cap the oldest relays are not forwarded to other servers, and that is logged.
    while (this.outboxBytes > MAX_OUTBOX_BYTES && this.outbox.length > 1) {
      this.outboxBytes -= this.outbox.shift()!.length;
      this.dropped++;
    }
    if (this.dropped > 0 && Date.now() - this.droppedReportedAt > 5000) {
      this.logger.warn(`relays arrive faster than PostgreSQL forwards them: ${this.dropped} not forwarded to other servers`);
      this.dropped = 0;
      this.droppedReportedAt = Date.now();
    }
    this.flushSoon();
  }

  private flushSoon(): void {
    if (this.outbox.length === 0 || this.flushScheduled || this.sending) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  /** One statement per batch and one batch at a time: chunks arrive together, batches in publish order. */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.outbox.splice(0);
    this.outboxBytes = 0;
    if (batch.length === 0) return;
    this.sending = true;
    try {
      await this.db.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i`, [
        TRANSIENT_CHANNEL,
        this.encode(batch),
      ]);
    } catch (error) {
      this.logger.warn(`could not forward ${batch.length} relayed messages to other servers: ${(error as Error).message}`);
    } finally {
      this.sending = false;
      this.flushSoon();
    }
  }

  private encode(batch: string[]): string[] {
    const bytes = Buffer.from(`[${batch.join(',')}]`, 'utf8');
    const id = randomUUID();
    const total = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    return Array.from({ length: total }, (_, i) => `${this.origin}|${id}|${i}|${total}|${bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES).toString('base64')}`);
  }

  private receive(payload: string): void {
    const [origin, id, index, total, data] = payload.split('|');
    if (origin === this.origin || data === undefined) return;
    const rejected = this.assembler.rejected;
    const whole = this.assembler.add(id, Number(index), Number(total), data);
    if (this.assembler.rejected > rejected) this.refusedChunks.warn(`relay bridge: refused or dropped malformed or stale relay chunks (from ${origin?.slice(0, 40)})`);
    if (!whole) return;
    try {
      const events = JSON.parse(whole.toString('utf8')) as TransientEvent[];
      if (!Array.isArray(events)) throw new Error('not a batch');
      void this.feed.publish(events.map((e) => ({ ...e, remote: true })));
    } catch (error) {
      this.logger.warn(`dropped an undecodable relay batch from ${origin}: ${(error as Error).message}`);
    }
  }
}
