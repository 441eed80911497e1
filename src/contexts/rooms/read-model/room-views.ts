import type { RecordedEvent } from '../../../core/event-store/event.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import type { SnapshotPolicy, StateCodec } from '../../../core/event-store/snapshot-store.js';
import { isTransient, type FeedEvent } from '../../../core/projections/event-feed.js';
import type { ChannelHub } from '../../../core/realtime/channel-hub.js';
import { isPossibleRoomId, roomIdOf, roomStreamId, isRoomStream, type RoomEvent, type RoomMessageEvent, type RoomValue } from '../domain/room.events.js';

export type Entry = Readonly<{ value: RoomValue; seq: number; binary?: boolean }>;

/** What subscribers of a room are told, after the read model applied it. */
export type RoomChange = Readonly<{ roomId: string; event: RoomMessageEvent }>;

type View = {
  built: boolean;
  exists: boolean;
  position: number;
  keys: Map<string, Entry[]>;
  /** The position of the newest snapshot of this view known here. */
  snapshotAt: number;
  loading?: Promise<void>;
  /** Durable events that arrived while loading or out of order, applied once their turn comes. */
  held: FeedEvent[];
  lastUsed: number;
};

const NO_ROOM: View = Object.freeze({ built: true, exists: false, position: 0, keys: new Map(), snapshotAt: 0, held: [], lastUsed: 0 });

export type RoomViewsOptions = { idleMs: number; maxViews: number; snapshots?: SnapshotPolicy };

type ViewJson = { exists: boolean; keys: [key: string, entries: Entry[]][] };
type ViewState = Pick<View, 'exists' | 'keys'>;

/** What a view snapshot holds: the retained entries of every key (a room's values live here, not in its actor). */
export const roomViewCodec: StateCodec<ViewState> = {
  kind: 'room-view',
  encode: ({ exists, keys }): ViewJson => ({ exists, keys: [...keys] }),
  decode: (json) => {
    const { exists, keys } = json as ViewJson;
    return { exists, keys: new Map(keys) };
  },
};

/**
 * The rooms read model: each room's retained entries per key, built from the log on first use, kept
 * current from the event feed in stream order (gaps are filled from the log), dropped when idle
 * unless someone is subscribed. Subscribers hear each change only after it is applied here.
 */
export class RoomViews {
  private readonly views = new Map<string, View>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: EventStore,
    private readonly changes: ChannelHub<RoomChange>,
    private readonly options: RoomViewsOptions,
  ) {
    this.sweeper = setInterval(() => this.evict(), Math.max(50, Math.floor(options.idleMs / 2)));
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  get size(): number {
    return this.views.size;
  }

  async exists(roomId: string): Promise<boolean> {
    return (await this.load(roomId)).exists;
  }

  /** Entries of `key` with seq strictly greater than `after`. */
  async entries(roomId: string, key: string, after = 0): Promise<Entry[]> {
    const view = await this.load(roomId);
    return (view.keys.get(key) ?? []).filter((e) => e.seq > after);
  }

  async allKeys(roomId: string): Promise<Map<string, Entry[]>> {
    return (await this.load(roomId)).keys;
  }

  /** Feed listener: applies room events in stream order (relays slotted after the position they follow), then tells subscribers. */
  apply = (events: readonly FeedEvent[]): void => {
    for (const event of events) {
      if (!isRoomStream(event.streamId)) continue;
      const roomId = roomIdOf(event.streamId);
      const view = this.views.get(roomId);
      if (!view) {
        // Nobody reads this room here: stored events are read from the log when first needed.
        if (isTransient(event)) this.announce(roomId, event);
        continue;
      }
      view.held.push(event);
      if (!view.loading) this.drain(roomId, view);
    }
  };

  private async load(roomId: string): Promise<View> {
    // An id the database could not even store names no room: answer without asking it.
    if (!isPossibleRoomId(roomId)) return NO_ROOM;
    let view = this.views.get(roomId);
    if (!view) {
      view = { built: false, exists: false, position: 0, keys: new Map(), snapshotAt: 0, held: [], lastUsed: Date.now() };
      this.views.set(roomId, view);
      this.fill(roomId, view);
    }
    view.lastUsed = Date.now();
    if (view.loading) await view.loading;
    return view;
  }

  /** Reads what the view misses from the log, then applies whatever was held meanwhile. */
  private fill(roomId: string, view: View, delayMs = 0): void {
    view.loading = (async () => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      // The first read builds the view; later ones fill gaps, and subscribers must hear what they fill.
      const announce = view.built;
      try {
        if (!view.built) await this.startFromSnapshot(roomId, view);
        for (const event of await this.store.readStream(roomStreamId(roomId), { after: view.position })) {
          this.evolve(roomId, view, event, announce);
        }
        view.built = true;
      } catch (error) {
        this.views.delete(roomId);
        throw error;
      } finally {
        view.loading = undefined;
      }
      this.drain(roomId, view, true);
    })();
    view.loading.catch(() => undefined);
  }

  private async startFromSnapshot(roomId: string, view: View): Promise<void> {
    const snapshot = this.options.snapshots && (await this.options.snapshots.store.load(roomViewCodec.kind, roomId));
    if (!snapshot) return;
    const { exists, keys } = roomViewCodec.decode(snapshot.state);
    Object.assign(view, { exists, keys, position: snapshot.position, snapshotAt: snapshot.position });
  }

  /**
   * Every `every` events, and never more often than once per retained entry's worth of events: a snapshot
   * writes every retained entry, so a room that keeps a long history pays O(1) per event, not O(history).
   */
  private snapshotIfDue(roomId: string, view: View): void {
    const policy = this.options.snapshots;
    const since = view.position - view.snapshotAt;
    if (!policy || !view.built || since < policy.every) return;
    let retained = 0;
    for (const entries of view.keys.values()) retained += entries.length;
    if (since < retained) return;
    view.snapshotAt = view.position;
    void policy.store.save(roomViewCodec.kind, roomId, view.position, roomViewCodec.encode(view));
  }

  private drain(roomId: string, view: View, justFilled = false): void {
    view.held.sort((a, b) => orderOf(a) - orderOf(b));
    while (view.held.length > 0) {
      const next = view.held[0];
      const needs = isTransient(next) ? next.afterPosition : next.streamPosition - 1;
      if (needs > view.position) {
        if (isTransient(next) && justFilled) {
          this.announce(roomId, view.held.shift()!); // the log has nothing more to place it after
          continue;
        }
        // A gap: another process wrote events this view has not seen yet; read them from the log.
        this.fill(roomId, view, justFilled ? 100 : 0);
        return;
      }
      view.held.shift();
      if (isTransient(next)) this.announce(roomId, next);
      else if (next.streamPosition === view.position + 1) this.evolve(roomId, view, next, true);
    }
    this.snapshotIfDue(roomId, view);
  }

  private announce(roomId: string, event: FeedEvent): void {
    this.changes.publish(roomId, { roomId, event: event as unknown as RoomMessageEvent });
  }

  private evolve(roomId: string, view: View, recorded: RecordedEvent, announce: boolean): void {
    view.position = recorded.streamPosition;
    const event = recorded as unknown as RoomEvent;
    switch (event.type) {
      case 'RoomCreated':
        view.exists = true;
        return;
      case 'SeqBlockReserved':
      case 'MessageRelayed':
        return;
      case 'MessageAppended': {
        const { key, value, seq, binary } = event.data;
        const entries = view.keys.get(key);
        if (entries) entries.push(entryOf(value, seq, binary));
        else view.keys.set(key, [entryOf(value, seq, binary)]);
        break;
      }
      case 'StreamReplaced': {
        const { key, value, seq, binary } = event.data;
        view.keys.set(key, [entryOf(value, seq, binary)]);
        break;
      }
      case 'StreamCompacted': {
        const { key, value, seq, binary } = event.data;
        view.keys.set(key, [entryOf(value, seq, binary), ...(view.keys.get(key) ?? []).filter((e) => e.seq > seq)]);
        break;
      }
    }
    if (announce) this.announce(roomId, recorded);
  }

  private evict(): void {
    const cutoff = Date.now() - this.options.idleMs;
    const overflow = this.views.size - this.options.maxViews;
    let dropped = 0;
    for (const [roomId, view] of this.views) {
      if (view.loading || this.changes.has(roomId)) continue;
      if (view.lastUsed < cutoff || dropped < overflow) {
        this.views.delete(roomId);
        dropped++;
      }
    }
  }
}

/** Stored events by position; a transient one just after the position it follows. */
function orderOf(event: FeedEvent): number {
  return isTransient(event) ? event.afterPosition + 0.5 : event.streamPosition;
}

function entryOf(value: RoomValue, seq: number, binary?: boolean): Entry {
  return binary ? { value, seq, binary } : { value, seq };
}
