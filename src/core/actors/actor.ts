import type { Event } from '../event-store/event.js';
import { ConcurrencyError, type AppendLink, type AppendResult } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import type { SnapshotPolicy } from '../event-store/snapshot-store.js';
import type { EventFeed, FeedEvent } from '../projections/event-feed.js';
import { MailboxFullError, type Decider } from './decider.js';

export type ActorLimits = {
  maxMailbox: number;
  maxBatch: number;
  maxConflictRetries: number;
  /** Batches one actor may have in flight: the next is decided while the previous commits (1: one at a time). */
  pipelineDepth?: number;
  /** Where and how often to snapshot states (deciders without a codec are never snapshotted). */
  snapshots?: SnapshotPolicy;
};

type Letter<C> = { command: C; resolve: (events: FeedEvent[]) => void; reject: (error: unknown) => void; attempts?: number };

/** A letter as decided in its batch: its events, or the error its decide threw. */
type LetterOutcome<C, E> = { letter: Letter<C>; events?: E[]; error?: unknown };

/** One submitted batch: what each letter decided, the state after it, and its append (none if nothing durable). */
type Step<S, C, E> = { outcomes: LetterOutcome<C, E>[]; state: S; result?: Promise<AppendResult> };

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
  /** The state and version the batches in flight will leave, once they commit. */
  private ahead: { state: S; version: number } | undefined;
  /** The newest append in flight, which the next one is chained after. */
  private lastLink: AppendLink | undefined;
  /** Batches submitted and not yet settled, settled one after another in this chain. */
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private waiters: (() => void)[] = [];
  /** A batch failed: later ones are decided again (from `redo`) once everything in flight settled. */
  private broken = false;
  private behind = false;
  private readonly redo: Letter<C>[] = [];
  private readonly depth: number;
  lastUsed = Date.now();

  constructor(
    readonly streamId: string,
    private readonly decider: Decider<S, C, E>,
    private readonly store: EventStore,
    private readonly feed: EventFeed,
    private readonly limits: ActorLimits,
  ) {
    this.state = decider.initialState();
    this.depth = Math.max(1, limits.pipelineDepth ?? 2);
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
        if (!this.loaded || this.behind) {
          await this.settled();
          try {
            await this.catchUp();
          } catch (error) {
            this.mailbox.splice(0, this.limits.maxBatch).forEach((l) => l.reject(error));
            continue;
          }
          this.behind = false;
        }
        // Decide the next batch while earlier ones commit, up to the pipeline's depth.
        if (this.pending >= this.depth) await this.oneSettled();
        if (this.broken) {
          await this.settled();
          continue;
        }
        this.submit(this.mailbox.splice(0, this.limits.maxBatch));
      }
      await this.settled();
    } finally {
      this.running = false;
      this.lastUsed = Date.now();
    }
    if (this.mailbox.length > 0) void this.run(); // letters that arrived while the last batches settled
  }

  /** Decides a batch on the state the batches before it will leave, and sends its events to the log. */
  private submit(batch: Letter<C>[]): void {
    let working = this.ahead?.state ?? this.state;
    const version = this.ahead?.version ?? this.version;
    const outcomes: LetterOutcome<C, E>[] = [];
    for (const letter of batch) {
      try {
        // Folded into a state of the letter's own: if decide or evolve throws, none of it is kept.
        const events = this.decider.decide(letter.command, working);
        let after = working;
        for (const event of events) after = this.decider.evolve(after, event);
        working = after;
        outcomes.push({ letter, events });
      } catch (error) {
        outcomes.push({ letter, error });
      }
    }
    const durable = outcomes.flatMap((o) => (o.events ? o.events.filter((e) => !this.transient(e)) : []));
    let result: Promise<AppendResult> | undefined;
    if (durable.length > 0) {
      const chained = this.store.appendChained(this.streamId, version, durable, { after: this.lastLink });
      this.lastLink = chained.link;
      result = chained.result;
      result.catch(() => undefined); // handled in order by settle()
    }
    this.ahead = { state: working, version: version + durable.length };
    const step: Step<S, C, E> = { outcomes, state: working, result };
    this.pending++;
    this.chain = this.chain.then(() => this.settle(step));
  }

  /**
   * A batch's outcome, in submission order: kept and published once its append committed. If it failed,
   * it and every batch decided after it are decided again (their appends, chained after it, were not written).
   */
  private async settle(step: Step<S, C, E>): Promise<void> {
    try {
      if (this.broken) return this.redoLetters(step, false);
      let recorded: FeedEvent[] = [];
      if (step.result) {
        try {
          const result = await step.result;
          recorded = result.events;
          this.version = result.nextExpectedVersion;
        } catch (error) {
          this.broken = true;
          if (error instanceof ConcurrencyError && step.outcomes.every((o) => (o.letter.attempts ?? 0) < this.limits.maxConflictRetries)) {
            // Another process wrote to this stream: read what it wrote, then decide again.
            this.behind = true;
            return this.redoLetters(step, true);
          }
          this.loaded = false; // the commit's outcome is unknown: reload from the log next time
          for (const o of step.outcomes) o.letter.reject(o.events ? error : o.error);
          return;
        }
      }
      this.state = step.state;
      this.snapshotIfDue();
      let next = 0;
      const before = this.version - recorded.length;
      const published: FeedEvent[] = [];
      const answers: { letter: Letter<C>; mine: FeedEvent[] }[] = [];
      for (const { letter, events, error } of step.outcomes) {
        if (!events) {
          letter.reject(error);
          continue;
        }
        const mine = events.map((e) =>
          this.transient(e) ? { ...e, streamId: this.streamId, transient: true as const, afterPosition: before + next } : recorded[next++],
        );
        published.push(...mine);
        answers.push({ letter, mine });
      }
      // Fan-out runs after this turn, while the next batch is decided and appended; callers hear back once
      // their events are delivered, so a sender's own broadcast still precedes its reply.
      const delivered = this.feed.publish(published).then(() => answers.forEach(({ letter, mine }) => letter.resolve(mine)));
      if (this.feed.congested) await delivered;
    } finally {
      this.pending--;
      this.wakeWaiters();
    }
  }

  /** `conflicted`: this batch met another writer (counts toward the retries), rather than following one that failed. */
  private redoLetters(step: Step<S, C, E>, conflicted: boolean): void {
    for (const o of step.outcomes) {
      if (conflicted && o.events) o.letter.attempts = (o.letter.attempts ?? 0) + 1;
      this.redo.push(o.letter);
    }
  }

  /** Waits for every batch in flight; letters to decide again go back to the front of the mailbox. */
  private async settled(): Promise<void> {
    await this.chain;
    if (!this.broken) {
      this.ahead = undefined; // nothing in flight: the committed state is the state ahead
      this.lastLink = undefined;
      return;
    }
    this.broken = false;
    this.ahead = undefined;
    this.lastLink = undefined;
    const redo = this.redo.splice(0);
    if (redo.length === 0) return;
    if (!this.loaded) this.behind = true;
    const attempt = Math.max(...redo.map((l) => l.attempts ?? 0));
    if (attempt > 1) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    this.mailbox.unshift(...redo);
  }

  private oneSettled(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wakeWaiters(): void {
    this.waiters.splice(0).forEach((w) => w());
  }

  private transient(e: E): boolean {
    return this.decider.isTransient?.(e) ?? false;
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
