import { ActorSystem } from '../../../core/actors/actor-system.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import type { FeedEvent } from '../../../core/projections/event-feed.js';
import type { StreamSubscription, StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { CATALOG_STREAM, catalogDecider, type CatalogCommand, type CatalogEvent, type CatalogState, type StreamEntry } from '../domain/catalog.js';

/** The catalog's actor (one stream): changes to streams, lookups and flows are decided one at a time. */
export class CatalogActors extends ActorSystem<CatalogState, CatalogCommand, CatalogEvent> {}

/**
 * The catalog as this process knows it: folded from the catalog stream, kept current by a subscription
 * (its own commits and other processes'), and read again from the log when a name is not found, so a
 * stream just created on another server is found here at once.
 */
export class CatalogView {
  private state: CatalogState = catalogDecider.initialState();
  private version = 0;
  private subscription?: StreamSubscription;
  private refreshing?: Promise<void>;
  private readonly listeners = new Set<(state: CatalogState) => void>();

  constructor(
    private readonly store: EventStore,
    private readonly subscriptions: StreamSubscriptions,
  ) {}

  async start(): Promise<void> {
    this.subscription = this.subscriptions.subscribe(CATALOG_STREAM, 0, (event) => this.apply(event));
    await this.subscription.whenCaughtUp();
  }

  stop(): void {
    this.subscription?.close();
  }

  get current(): CatalogState {
    return this.state;
  }

  /** Calls `listener` with the new state after each catalog event this process folds in; returns an unsubscribe. */
  onChange(listener: (state: CatalogState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The stream's entry; if this process does not know it, after reading the catalog's newest events. */
  async stream(name: string): Promise<StreamEntry | undefined> {
    if (Object.hasOwn(this.state.streams, name)) return this.state.streams[name];
    await this.refresh();
    return Object.hasOwn(this.state.streams, name) ? this.state.streams[name] : undefined;
  }

  /** Reads what the catalog stream holds past what was folded in. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        for await (const page of this.store.streamPages(CATALOG_STREAM, { after: this.version })) for (const event of page) this.apply(event);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private apply(event: FeedEvent): void {
    if ('transient' in event || event.streamPosition <= this.version) return;
    this.state = catalogDecider.evolve(this.state, event as unknown as CatalogEvent);
    this.version = event.streamPosition;
    for (const listener of this.listeners) {
      try {
        listener(this.state);
      } catch {
        // a listener's failure is its own; the view stays current
      }
    }
  }
}
