import { Logger } from '@nestjs/common';
import type { Event, RecordedEvent } from '../event-store/event.js';

/**
 * An event that is published but never stored (e.g. a relayed message). `afterPosition` is the stream
 * position it follows, so a reader can slot it in among stored events; `remote` marks one that came
 * from another server process.
 */
export type TransientEvent<E extends Event = Event> = E &
  Readonly<{ streamId: string; transient: true; afterPosition: number; remote?: boolean }>;

export type FeedEvent = RecordedEvent | TransientEvent;

export type FeedListener = (events: readonly FeedEvent[]) => void;

export function isTransient(event: FeedEvent): event is TransientEvent {
  return (event as TransientEvent).transient === true;
}

export type FeedOptions = {
  /** Events waiting to be delivered past which publishers wait for delivery (backpressure, never loss). */
  maxQueuedEvents: number;
};

/**
 * The in-process stream of committed (and transient) events: actors publish what their own process
 * committed, the log tail publishes what other processes committed. Listeners (projector wake-ups,
 * subscriptions) are called after the publisher's turn, in publish order, so fan-out never runs inside
 * an actor's turn; a listener that throws is reported and does not keep the events from the others
 * (subscriptions re-read what a failed delivery missed from the log).
 */
export class EventFeed {
  private readonly listeners = new Set<FeedListener>();
  private readonly logger = new Logger(EventFeed.name);
  private readonly queue: { events: readonly FeedEvent[]; delivered: () => void }[] = [];
  private queuedEvents = 0;
  private scheduled = false;

  constructor(private readonly options: FeedOptions = { maxQueuedEvents: 50_000 }) {}

  /** Whether publishers should wait for delivery before publishing more. */
  get congested(): boolean {
    return this.queuedEvents > this.options.maxQueuedEvents;
  }

  /** Resolves once every listener has been called with `events`. */
  publish(events: readonly FeedEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise((delivered) => {
      this.queue.push({ events, delivered });
      this.queuedEvents += events.length;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.deliver());
      }
    });
  }

  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(): void {
    this.scheduled = false;
    // Only what is queued now: what listeners publish meanwhile goes in the next turn.
    for (const { events, delivered } of this.queue.splice(0)) {
      this.queuedEvents -= events.length;
      for (const listener of this.listeners) {
        try {
          listener(events);
        } catch (error) {
          this.logger.error(error instanceof Error ? error.stack : String(error));
        }
      }
      delivered();
    }
  }
}
