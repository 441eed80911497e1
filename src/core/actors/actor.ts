import type { Event } from '../event-store/event.js';
import { ConcurrencyError } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import type { SnapshotPolicy } from '../event-store/snapshot-store.js';
import type { EventFeed, FeedEvent } from '../projections/event-feed.js';
import { MailboxFullError, type Decider } from './decider.js';

export type ActorLimits = {
  maxMailbox: number;
  maxBatch: number;
  maxConflictRetries: number;
  /** Where and how often to snapshot states (deciders without a codec are never snapshotted). */
  snapshots?: SnapshotPolicy;
};

type Letter<C> = { command: C; resolve: (events: FeedEvent[]) => void; reject: (error: unknown) => void };

/**
 * One aggregate's actor: a mailbox drained one batch at a time. Every command of a batch is decided
 * in order against the state its predecessors left; the batch's durable events go to the log in one
 * append guarded by the expected version; only after commit is the state kept and the events published.
 */
export class Actor<S, C, E extends Event> {
  private state: S;
  private version = 0;
  private loaded = false;
  private running = false;
  /** The version of the newest snapshot this actor knows of. */
  private snapshotAt = 0;
  private readonly mailbox: Letter<C>[] = [];
  lastUsed = Date.now();

  constructor(
    readonly streamId: string,
    private readonly decider: Decider<S, C, E>,
    private readonly store: EventStore,
    private readonly feed: EventFeed,
    private readonly limits: ActorLimits,
  ) {
    this.state = decider.initialState();
  }

  get idle(): boolean {
    return !this.running && this.mailbox.length === 0;
  }

  tell(command: C): Promise<FeedEvent[]> {
    this.lastUsed = Date.now();
    if (this.mailbox.length >= this.limits.maxMailbox) {
      return Promise.reject(new MailboxFullError(`too many commands waiting for ${this.streamId}`));
    }
    return new Promise((resolve, reject) => {
      this.mailbox.push({ command, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.mailbox.length > 0) {
        const batch = this.mailbox.splice(0, this.limits.maxBatch);
        await this.process(batch);
      }
    } finally {
      this.running = false;
      this.lastUsed = Date.now();
    }
  }

  private async process(batch: Letter<C>[], attempt = 0, behind = false): Promise<void> {
    try {
      if (!this.loaded || behind) await this.catchUp();
    } catch (error) {
      batch.forEach((l) => l.reject(error));
      return;
    }
    let working = this.state;
    const decided: { letter: Letter<C>; events: E[] }[] = [];
    for (const letter of batch) {
      try {
        // Folded into a state of the letter's own: if decide or evolve throws, none of it is kept.
        const events = this.decider.decide(letter.command, working);
        let after = working;
        for (const event of events) after = this.decider.evolve(after, event);
        working = after;
        decided.push({ letter, events });
      } catch (error) {
        letter.reject(error);
      }
    }
    const transient = (e: E) => this.decider.isTransient?.(e) ?? false;
    const durable = decided.flatMap((d) => d.events.filter((e) => !transient(e)));
    let recorded: FeedEvent[] = [];
    if (durable.length > 0) {
      try {
        const result = await this.store.append(this.streamId, this.version, durable);
        recorded = result.events;
        this.version = result.nextExpectedVersion;
      } catch (error) {
        if (error instanceof ConcurrencyError && attempt < this.limits.maxConflictRetries) {
          // Another process wrote to this stream: read what it wrote, then decide the batch again.
          if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
          return this.process(
            decided.map((d) => d.letter),
            attempt + 1,
            true,
          );
        }
        this.loaded = false; // the commit's outcome is unknown: reload from the log next time
        decided.forEach((d) => d.letter.reject(error));
        return;
      }
    }
    this.state = working;
    this.snapshotIfDue();
    let next = 0;
    const before = this.version - recorded.length;
    const published: FeedEvent[] = [];
    const answers: { letter: Letter<C>; mine: FeedEvent[] }[] = [];
    for (const { letter, events } of decided) {
      const mine = events.map((e) =>
        transient(e) ? { ...e, streamId: this.streamId, transient: true as const, afterPosition: before + next } : recorded[next++],
      );
      published.push(...mine);
      answers.push({ letter, mine });
    }
    // Fan-out runs after this turn, while the next batch is decided and appended; callers hear back once
    // their events are delivered, so a sender's own broadcast still precedes its reply.
    const delivered = this.feed.publish(published).then(() => answers.forEach(({ letter, mine }) => letter.resolve(mine)));
    if (this.feed.congested) await delivered;
  }

  /** Reads the log after the version held (when not loaded: after the newest snapshot, if any) and folds it in. */
  private async catchUp(): Promise<void> {
    if (!this.loaded) {
      this.state = this.decider.initialState();
      this.version = 0;
      const codec = this.decider.snapshot;
      const policy = this.limits.snapshots;
      const snapshot = codec && policy ? await policy.store.load(codec, this.streamId) : undefined;
      if (codec && snapshot) {
        this.state = codec.decode(snapshot.state);
        this.version = this.snapshotAt = snapshot.position;
      }
    }
    for await (const page of this.store.streamPages(this.streamId, { after: this.version })) {
      for (const event of page) {
        this.state = this.decider.evolve(this.state, event as unknown as E);
        this.version = event.streamPosition;
      }
    }
    this.state = this.decider.rehydrated?.(this.state) ?? this.state;
    this.loaded = true;
  }

  private snapshotIfDue(): void {
    const codec = this.decider.snapshot;
    const policy = this.limits.snapshots;
    if (!codec || !policy || this.version - this.snapshotAt < policy.every) return;
    this.snapshotAt = this.version;
    void policy.store.save(codec, this.streamId, this.version, codec.encode(this.state));
  }
}
