import type { RecordedEvent } from '../../../core/event-store/event.js';
import type { Snapshot, SnapshotPolicy, StateCodec } from '../../../core/event-store/snapshot-store.js';
import { isTransient, type FeedEvent } from '../../../core/projections/event-feed.js';
import type { StreamSubscription, StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import type { ChannelHub } from '../../../core/realtime/channel-hub.js';
import { isPossibleRoomId, isRoomStream, roomIdOf, roomStreamId, type RoomEvent, type RoomMessageEvent, type RoomValue } from '../domain/room.events.js';

export type Entry = Readonly<{ value: RoomValue; seq: number; binary?: boolean }>;

/** What subscribers of a room are told, after the read model applied it. */
export type RoomChange = Readonly<{ roomId: string; event: RoomMessageEvent }>;

type View = {
  exists: boolean;
  position: number;
  keys: Map<string, Entry[]>;
  /** The position of the newest snapshot of this view known here. */
  snapshotAt: number;
  /** Settles when the view is built (snapshot, then the log up to where live events take over). */
  ready: Promise<void>;
  subscription?: StreamSubscription;
  lastUsed: number;
  /** Its build failed (the log could not be read): the next load waits for the subscription's next read, not that failure. */
  retryBuild?: boolean;
};

const NO_ROOM: View = Object.freeze({ exists: false, position: 0, keys: new Map(), snapshotAt: 0, ready: Promise.resolve(), lastUsed: 0 });

export type RoomViewsOptions = {
  idleMs: number;
  maxViews: number;
  snapshots?: SnapshotPolicy;
  /** Other servers write the same log (a shared PostgreSQL): a fresh read reads the room's log head first. */
  sharedLog?: boolean;
};

type ViewJson = { exists: boolean; keys: [key: string, entries: Entry[]][] };
type ViewState = Pick<View, 'exists' | 'keys'>;

/** What a view snapshot holds: the retained entries of every key (a room's values live here, not in its actor). */
export const roomViewCodec: StateCodec<ViewState> = {
  kind: 'room-view',
  version: 1,
  encode: ({ exists, keys }): ViewJson => ({ exists, keys: [...keys] }),
  decode: (json) => {
    const { exists, keys } = json as ViewJson;
    return { exists, keys: new Map(keys) };
  },
};

/**
 * The rooms read model: each room's retained entries per key, built on first use from its newest snapshot
 * and a core stream subscription (catch-up from the log, then live, in stream order, gaps read from the
 * log), dropped when idle unless someone listens. Subscribers hear each change only after it is applied.
 */
export class RoomViews {
  private readonly views = new Map<string, View>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly subscriptions: StreamSubscriptions,
    private readonly changes: ChannelHub<RoomChange>,
    private readonly options: RoomViewsOptions,
  ) {
    this.sweeper = setInterval(() => this.evict(), Math.max(50, Math.floor(options.idleMs / 2)));
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const view of this.views.values()) view.subscription?.close();
    this.views.clear();
  }

  get size(): number {
    return this.views.size;
  }

  async exists(roomId: string): Promise<boolean> {
    return (await this.load(roomId)).exists;
  }

  /** Entries of `key` with seq strictly greater than `after`. */
  /** `fresh`: with other servers on the log, read the room's log first (see GetStreamQuery). */
  async entries(roomId: string, key: string, after = 0, fresh = false): Promise<Entry[]> {
    const view = await this.load(roomId, fresh);
    return (view.keys.get(key) ?? []).filter((e) => e.seq > after);
  }

  async allKeys(roomId: string): Promise<Map<string, Entry[]>> {
    return (await this.load(roomId)).keys;
  }

  /** Feed listener for relays to rooms no view is open for here: nothing to order them against, so told at once. */
  relayUnviewed = (events: readonly FeedEvent[]): void => {
    for (const event of events) {
      if (!isTransient(event) || !isRoomStream(event.streamId)) continue;
      const roomId = roomIdOf(event.streamId);
      if (!this.views.has(roomId)) this.announce(roomId, event);
    }
  };

  private async load(roomId: string, fresh = false): Promise<View> {
    // An id the database could not even store names no room: answer without asking it.
    if (!isPossibleRoomId(roomId)) return NO_ROOM;
    let view = this.views.get(roomId);
    // A view built by this call has just read the log; an older one may lag other servers' commits.
    if (view && fresh && this.options.sharedLog) await view.ready.then(() => view!.subscription?.refresh()).catch(() => undefined);
    if (!view) {
      const created: View = { exists: false, position: 0, keys: new Map(), snapshotAt: 0, ready: Promise.resolve(), lastUsed: Date.now() };
      created.ready = this.open(roomId, created);
      created.ready.catch(() => undefined);
      this.views.set(roomId, (view = created));
    }
    view.lastUsed = Date.now();
    if (view.retryBuild && view.subscription) {
      view.retryBuild = false;
      view.ready = view.subscription.whenCaughtUp();
      view.ready.catch(() => undefined);
    }
    try {
      await view.ready;
    } catch (error) {
      // Not built yet: its subscription keeps reading the log; the next load waits for its next read.
      view.retryBuild = true;
      throw error;
    }
    return view;
  }

  /** From the newest snapshot, then the log after it through a subscription that stays live. */
  private async open(roomId: string, view: View): Promise<void> {
    const snapshot = await this.newestSnapshot(roomId);
    if (snapshot) {
      const { exists, keys } = roomViewCodec.decode(snapshot.state);
      Object.assign(view, { exists, keys, position: snapshot.position, snapshotAt: snapshot.position });
    }
    view.subscription = this.subscriptions.subscribe(roomStreamId(roomId), view.position, (event, initial) => {
      if (isTransient(event)) this.announce(roomId, event);
      else this.evolve(roomId, view, event, !initial);
      this.snapshotIfDue(roomId, view);
    });
    await view.subscription.whenCaughtUp();
  }

  /** A snapshot is a cache of the log: one that cannot be read costs a longer read of the log, nothing else. */
  private async newestSnapshot(roomId: string): Promise<Snapshot | undefined> {
    try {
      return this.options.snapshots && (await this.options.snapshots.store.load(roomViewCodec, roomId));
    } catch {
      return undefined;
    }
  }

  /**
   * Every `every` events, and never more often than once per retained entry's worth of events: a snapshot
   * writes every retained entry, so a room that keeps a long history pays O(1) per event, not O(history).
   */
  private snapshotIfDue(roomId: string, view: View): void {
    const policy = this.options.snapshots;
    const since = view.position - view.snapshotAt;
    if (!policy || !view.subscription?.caughtUp || since < policy.every) return;
    let retained = 0;
    for (const entries of view.keys.values()) retained += entries.length;
    if (since < retained) return;
    view.snapshotAt = view.position;
    void policy.store.save(roomViewCodec, roomId, view.position, roomViewCodec.encode(view));
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
    let overflow = this.views.size - this.options.maxViews;
    for (const [roomId, view] of this.views) {
      if (!view.subscription?.caughtUp || this.changes.has(roomId)) continue;
      if (view.lastUsed < cutoff || overflow > 0) {
        view.subscription.close();
        this.views.delete(roomId);
        overflow--;
      }
    }
  }
}

function entryOf(value: RoomValue, seq: number, binary?: boolean): Entry {
  return binary ? { value, seq, binary } : { value, seq };
}
