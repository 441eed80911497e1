import { ActorSystem } from '../../../core/actors/actor-system.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import type { LogCheckpoint, RecordedEvent } from '../../../core/event-store/event.js';
import type { StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { recordStreamId, StreamNotFoundError } from '../domain/catalog.js';
import type { InsertRecords, RecordStreamEvent, StreamRecord } from '../domain/record-stream.js';
import { metricRecordsOrThrow } from '../metrics/domain/metric.js';
import type { CatalogView } from './catalog-view.js';
import type { DeliveredRecord, FromOffset, InsertOutcome, RecordSubscriptionHandle } from './commands.js';

/** One actor per record stream (generation): the batches sent to it append in order, each atomically. */
export class RecordActors extends ActorSystem<null, InsertRecords, RecordStreamEvent> {}

/** Writes and subscriptions of named record streams, resolved through the catalog. */
export class StreamRecords {
  private readonly subscribers = new Map<string, number>();

  constructor(
    private readonly catalog: CatalogView,
    private readonly actors: RecordActors,
    private readonly store: EventStore,
    private readonly subscriptions: StreamSubscriptions,
  ) {}

  async insert(name: string, records: readonly StreamRecord[]): Promise<InsertOutcome> {
    const entry = await this.catalog.stream(name);
    if (!entry) throw new StreamNotFoundError(name);
    // A metric's records are points {timestamp, value, dimensions, tags}, whichever dialect writes them.
    const checked = entry.kind === 'metric' ? metricRecordsOrThrow(name, records, Date.now()) : records;
    const events = await this.actors.tell(recordStreamId(name, entry.generation), { records: checked });
    const positions = events.map((e) => (e as RecordedEvent).streamPosition);
    const last = events.at(-1) as RecordedEvent | undefined;
    return {
      count: events.length,
      firstOffset: positions[0] ?? 0,
      lastOffset: positions.at(-1) ?? 0,
      ...(last ? { logPosition: { transactionId: last.transactionId, globalPosition: last.globalPosition } } : {}),
    };
  }

  /** Appends a PointsDeleted event to a metric stream; its position and log checkpoint. */
  async deletePoints(name: string, where: unknown): Promise<{ position: number; logPosition: LogCheckpoint }> {
    const entry = await this.catalog.stream(name);
    if (!entry) throw new StreamNotFoundError(name);
    const [event] = (await this.actors.tell(recordStreamId(name, entry.generation), { records: [], deletePoints: { where, at: new Date().toISOString() } })) as RecordedEvent[];
    return { position: event.streamPosition, logPosition: { transactionId: event.transactionId, globalPosition: event.globalPosition } };
  }

  async lastOffset(name: string): Promise<number> {
    const entry = await this.catalog.stream(name);
    if (!entry) throw new StreamNotFoundError(name);
    return this.store.streamPosition(recordStreamId(name, entry.generation));
  }

  async subscribe(name: string, from: FromOffset, onRecord: (record: DeliveredRecord) => void): Promise<RecordSubscriptionHandle> {
    const entry = await this.catalog.stream(name);
    if (!entry) throw new StreamNotFoundError(name);
    const streamId = recordStreamId(name, entry.generation);
    const after = from === 'earliest' ? 0 : from === 'latest' ? await this.store.streamPosition(streamId) : from;
    const subscription = this.subscriptions.subscribe(streamId, after, (event) => {
      if ('transient' in event || event.type !== 'RecordInserted') return; // a metric's PointsDeleted is no record
      onRecord({ streamName: name, offset: event.streamPosition, data: event.data as StreamRecord, key: event, time: event.recordedAt.getTime() });
    });
    this.subscribers.set(name, (this.subscribers.get(name) ?? 0) + 1);
    let closed = false;
    return {
      streamName: name,
      close: () => {
        if (closed) return;
        closed = true;
        subscription.close();
        const left = (this.subscribers.get(name) ?? 1) - 1;
        if (left > 0) this.subscribers.set(name, left);
        else this.subscribers.delete(name);
      },
    };
  }

  subscriberCount(name: string): number {
    return this.subscribers.get(name) ?? 0;
  }

  subscriberCounts(): Map<string, number> {
    return this.subscribers;
  }
}
