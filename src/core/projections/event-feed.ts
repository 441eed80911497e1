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

/**
 * The in-process stream of committed (and transient) events: actors publish what their own process
 * committed, the log tail publishes what other processes committed. Projectors subscribe to it.
 */
export class EventFeed {
  private readonly listeners = new Set<FeedListener>();
  private readonly logger = new Logger(EventFeed.name);

  /** Tells every listener; one that throws is reported and does not keep the events from the others. */
  publish(events: readonly FeedEvent[]): void {
    if (events.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch (error) {
        this.logger.error(error instanceof Error ? error.stack : String(error));
      }
    }
  }

  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
