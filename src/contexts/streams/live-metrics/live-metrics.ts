import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { DomainError } from '../../../core/errors/domain-errors.js';
import type { FeedEvent } from '../../../core/projections/event-feed.js';
import type { StreamSubscription, StreamSubscriptions } from '../../../core/projections/stream-subscriptions.js';
import { instantiate, type JsonValue, type PipelineRuntime } from '../../../core/query/index.js';
import { recordStreamId, StreamNotFoundError } from '../domain/catalog.js';
import type { CatalogView } from '../application/catalog-view.js';
import { conditionExpression, equalityIndexOf } from './compile-condition.js';
import { addToGroup, groupResult, newGroup, type GroupState } from './aggregation.js';
import type { MetricCondition, MetricRecord, MetricSelection } from '../metrics/domain/metric-query.js';
import type { LiveMetricQuerySpec, LiveMetricRecord, LiveMetricsStats, LiveMetricSubscription, LivePush, LiveSubscribeOptions } from './commands.js';

/**
 * Answers a select over a metric's stored points (the metrics read model) complete up to `position`; used to
 * seed an aggregate evaluation instead of reading the stream from its start.
 */
export type StoredAnswer = (stream: string, selection: MetricSelection) => Promise<{ records: MetricRecord[]; position: number }>;

/** Aggregates whose state the read model's count, sum, min and max rebuild exactly. */
const SEEDABLE: ReadonlySet<string> = new Set(['count', 'sum', 'min', 'max', 'avg']);
const SEED_ATTEMPTS = 3;

export type LiveMetricsSettings = {
  /** Groups (tag values, open interval buckets) one aggregate evaluation keeps. */
  maxGroups: number;
  /** Records a resume may answer with. */
  maxResumeRecords: number;
  /** Records a plain evaluation keeps for its subscribers between pushes (their largest retention, at most this). */
  maxRetention: number;
};

type Stored = { position: number; record: LiveMetricRecord };

/** The metric record of a stored event (timestamp: the commit time when it has none); undefined if not a metric record. */
function metricRecord(event: FeedEvent): LiveMetricRecord | undefined {
  if ('transient' in event) return undefined;
  const data = event.data as Record<string, unknown> | null;
  if (!data || typeof data !== 'object' || typeof data.value !== 'number') return undefined;
  const flat = (o: unknown) => (o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, string | number>) : {});
  return {
    timestamp: typeof data.timestamp === 'number' ? data.timestamp : event.recordedAt.getTime(),
    value: data.value,
    dimensions: flat(data.dimensions),
    tags: flat(data.tags),
  };
}

/** A record's value for a field named in a query: timestamp, value, else its dimension or tag of that name. */
function fieldOf(record: LiveMetricRecord, field: string): string | number | undefined {
  if (field === 'timestamp') return record.timestamp;
  if (field === 'value') return record.value;
  return Object.hasOwn(record.dimensions, field) ? record.dimensions[field] : Object.hasOwn(record.tags, field) ? record.tags[field] : undefined;
}

const valueKey = (v: unknown) => (typeof v === 'number' ? `n${v}` : `s${String(v)}`);

/**
 * One stream's shared subscription: every record is offered to the evaluations that may match it, those
 * indexed by a tag value found by that value (a map lookup), the others tried one by one.
 */
class Feed {
  position: number;
  private readonly subscription: StreamSubscription;
  /** field → value → evaluations whose where holds `field = value`. */
  private readonly indexed = new Map<string, Map<string, Set<Evaluation>>>();
  private readonly others = new Set<Evaluation>();
  size = 0;

  constructor(
    readonly stream: string,
    readonly streamId: string,
    after: number,
    subscriptions: StreamSubscriptions,
    private readonly hub: LiveMetrics,
  ) {
    this.position = after;
    this.subscription = subscriptions.subscribe(streamId, after, (event) => this.receive(event));
  }

  private receive(event: FeedEvent): void {
    if ('transient' in event) return;
    this.position = event.streamPosition;
    const record = metricRecord(event);
    if (!record) return;
    this.hub.recordsSeen++;
    const stored: Stored = { position: event.streamPosition, record };
    for (const [field, byValue] of this.indexed) {
      const value = fieldOf(record, field);
      if (value === undefined) continue;
      const evaluations = byValue.get(valueKey(value));
      if (evaluations) for (const evaluation of evaluations) evaluation.offer(stored);
    }
    for (const evaluation of this.others) evaluation.offer(stored);
  }

  attach(evaluation: Evaluation): void {
    const index = evaluation.indexOn;
    if (index) {
      let byValue = this.indexed.get(index.field);
      if (!byValue) this.indexed.set(index.field, (byValue = new Map()));
      const key = valueKey(index.value);
      let set = byValue.get(key);
      if (!set) byValue.set(key, (set = new Set()));
      set.add(evaluation);
    } else this.others.add(evaluation);
    this.size++;
  }

  detach(evaluation: Evaluation): void {
    const index = evaluation.indexOn;
    let removed: boolean;
    if (index) {
      const byValue = this.indexed.get(index.field);
      const key = valueKey(index.value);
      const set = byValue?.get(key);
      removed = set?.delete(evaluation) ?? false;
      if (set?.size === 0) byValue!.delete(key);
      if (byValue?.size === 0) this.indexed.delete(index.field);
    } else removed = this.others.delete(evaluation);
    if (removed) this.size--;
  }

  close(): void {
    this.subscription.close();
  }
}

type Group = {
  key: string;
  record: LiveMetricRecord;
  state: GroupState;
  version: number;
  /** offset of the last record applied */
  position: number;
  result?: { version: number; count: number; record: LiveMetricRecord };
};

/**
 * The shared evaluation of one canonical query: its predicate (a core query plan), its state (the recent
 * matches, the groups, the open buckets) and its subscribers. Records are applied once, however many
 * subscribers there are; each subscriber takes what is new for it when its refresh period allows.
 */
class Evaluation {
  readonly quid = randomUUID();
  readonly subscribers = new Set<Subscriber>();
  private readonly runtime?: PipelineRuntime;
  readonly indexOn?: { field: string; value: string | number };
  /** Offset of the last record applied. */
  position = 0;
  /** Records ≤ this offset were applied by the catch-up already (while joining the feed). */
  skipUpTo = 0;
  attached = false;
  ready: Promise<void> = Promise.resolve();
  // plain and interval: the newest entries (matches, closed buckets), numbered from `baseSeq`.
  entries: Stored[] = [];
  baseSeq = 0;
  get seq(): number {
    return this.baseSeq + this.entries.length;
  }
  capacity = 1;
  // aggregates
  readonly groups = new Map<string, Group>();
  version = 0;
  overflowed = false;
  private bucketTimer?: NodeJS.Timeout;
  private nextClose = Infinity;

  constructor(
    readonly spec: LiveMetricQuerySpec,
    readonly feed: Feed,
    private readonly hub: LiveMetrics,
  ) {
    if (spec.where) {
      this.runtime = instantiate({ source: spec.stream, operators: [{ op: 'where', condition: conditionExpression(spec.where) }] }, { onError: () => undefined });
      this.indexOn = equalityIndexOf(spec.where);
    }
  }

  get plain(): boolean {
    return this.spec.shape.kind === 'plain';
  }

  get interval(): number | undefined {
    const shape = this.spec.shape;
    return shape.kind === 'aggregate' && shape.groupBy?.kind === 'interval' ? shape.groupBy.intervalMs : undefined;
  }

  test(stored: Stored): boolean {
    this.hub.predicateTests++;
    if (!this.runtime) return true;
    return this.runtime.push(stored.record as unknown as JsonValue, { offset: stored.position, time: stored.record.timestamp }).length > 0;
  }

  /** A record from the feed. */
  offer(stored: Stored): void {
    if (stored.position <= this.skipUpTo) return;
    if (this.test(stored)) this.apply(stored);
    else this.position = stored.position;
  }

  /** A matching record: into the state, and subscribers told. */
  apply(stored: Stored): void {
    this.position = stored.position;
    const shape = this.spec.shape;
    if (shape.kind === 'plain') {
      this.push(stored);
      return;
    }
    const { record } = stored;
    let key: string;
    let template: () => LiveMetricRecord;
    const interval = this.interval;
    if (interval !== undefined) {
      const lower = Math.floor(record.timestamp / interval) * interval;
      const upper = lower + interval;
      // A bucket the clock has passed is closed (pushed, or too late to be): stored, queryable, never pushed again.
      if (upper <= this.hub.now()) return;
      key = String(lower);
      template = () => ({ timestamp: upper, value: 0, dimensions: { lowerBound: lower, upperBound: upper }, tags: {} });
      if (upper < this.nextClose) this.scheduleClose(upper);
    } else if (shape.groupBy?.kind === 'tag') {
      const field = shape.groupBy.field;
      const value = fieldOf(record, field);
      if (value === undefined) return; // NSDb groups only records that have the tag
      key = valueKey(value);
      template = () => ({ timestamp: 0, value: 0, dimensions: {}, tags: { [field]: value } });
    } else {
      key = '';
      template = () => ({ timestamp: 0, value: 0, dimensions: {}, tags: {} });
    }
    let group = this.groups.get(key);
    if (!group) {
      if (this.groups.size >= this.hub.settings.maxGroups) {
        if (!this.overflowed) {
          this.overflowed = true;
          for (const subscriber of this.subscribers) subscriber.error(`too many groups: a live aggregate keeps at most ${this.hub.settings.maxGroups}; further groups are not pushed`);
        }
        return;
      }
      group = { key, record: template(), state: newGroup(shape.aggregates.flatMap((a) => (a.distinctField === undefined ? [] : [a.distinctField]))), version: 0, position: 0 };
      this.groups.set(key, group);
    }
    group.position = stored.position;
    addToGroup(group.state, record.value, record.timestamp, (field) => fieldOf(record, field));
    if (interval !== undefined) return; // pushed when the clock closes it
    group.version = ++this.version;
    this.notify();
  }

  /** Groups from the read model's answers (one per aggregate of `fns`, or one global record holding them all). */
  seed(answers: { records: MetricRecord[] }[], fns: readonly ('count' | 'sum' | 'min' | 'max')[], position: number): void {
    const shape = this.spec.shape as Extract<LiveMetricQuerySpec['shape'], { kind: 'aggregate' }>;
    const interval = this.interval;
    const keyOf = (r: MetricRecord): { key: string; template: LiveMetricRecord } | undefined => {
      if (interval !== undefined) {
        const lower = Number(r.dimensions.lowerBound);
        return { key: String(lower), template: { timestamp: lower + interval, value: 0, dimensions: { lowerBound: lower, upperBound: lower + interval }, tags: {} } };
      }
      if (shape.groupBy?.kind === 'tag') {
        const value = r.tags[shape.groupBy.field];
        return value === undefined ? undefined : { key: valueKey(value), template: { timestamp: 0, value: 0, dimensions: {}, tags: { [shape.groupBy.field]: value } } };
      }
      return { key: '', template: { timestamp: 0, value: 0, dimensions: {}, tags: {} } };
    };
    const set = (record: MetricRecord, fn: (typeof fns)[number], value: number | undefined) => {
      const found = keyOf(record);
      if (!found || value === undefined || !Number.isFinite(value)) return;
      let group = this.groups.get(found.key);
      if (!group) {
        if (this.groups.size >= this.hub.settings.maxGroups) return;
        group = { key: found.key, record: found.template, state: newGroup([]), version: 0, position };
        this.groups.set(found.key, group);
        if (interval !== undefined && found.template.timestamp < this.nextClose) this.scheduleClose(found.template.timestamp);
      }
      if (fn === 'count') group.state.count = value;
      else group.state[fn] = value;
    };
    answers.forEach((answer, i) => {
      for (const record of answer.records) {
        if (shape.groupBy) set(record, fns[i], record.value);
        else for (const fn of fns) set(record, fn, record.tags[`${fn}(*)`] as number | undefined);
      }
    });
    // A group with no points (a global aggregate over nothing) keeps min/max neutral.
    for (const group of this.groups.values()) if (group.state.count === 0) Object.assign(group.state, { sum: 0, min: Infinity, max: -Infinity });
    this.position = position;
  }

  /** An entry (a match, a closed bucket) for subscribers to take; only the newest `capacity` are kept. */
  private push(stored: Stored): void {
    this.entries.push(stored);
    if (this.entries.length > this.capacity * 2) {
      const cut = this.entries.length - this.capacity;
      this.entries.splice(0, cut);
      this.baseSeq += cut;
    }
    this.notify();
  }

  private notify(): void {
    for (const subscriber of this.subscribers) subscriber.changed();
  }

  /** The result of a group as a record (the same object while the group is unchanged, so it is encoded once). */
  resultOf(group: Group): LiveMetricRecord {
    if (group.result && group.result.version === group.version && group.result.count === group.state.count) return group.result.record;
    const shape = this.spec.shape as Extract<LiveMetricQuerySpec['shape'], { kind: 'aggregate' }>;
    const [first] = shape.aggregates;
    const value = groupResult(first.fn, group.state, first.distinctField);
    let out: LiveMetricRecord;
    if (this.interval !== undefined) out = { ...group.record, value, tags: { [first.resultKey]: value } };
    else if (shape.groupBy?.kind === 'tag') out = { ...group.record, value };
    else out = { ...group.record, value: 0, tags: Object.fromEntries(shape.aggregates.map((a) => [a.resultKey, groupResult(a.fn, group.state, a.distinctField)])) };
    group.result = { version: group.version, count: group.state.count, record: out };
    return out;
  }

  /** The current result (aggregates): every group. */
  currentResult(): LiveMetricRecord[] {
    const records = [...this.groups.values()].map((g) => this.resultOf(g));
    if (this.interval !== undefined) records.sort((a, b) => a.timestamp - b.timestamp);
    return records;
  }

  private scheduleClose(upper: number): void {
    clearTimeout(this.bucketTimer);
    this.nextClose = upper;
    this.bucketTimer = setTimeout(() => this.closeBuckets(), Math.max(0, upper - this.hub.now()));
    this.bucketTimer.unref();
  }

  /** Every bucket whose upper bound the clock has passed is pushed once and forgotten. */
  private closeBuckets(): void {
    this.bucketTimer = undefined;
    this.nextClose = Infinity;
    const now = this.hub.now();
    const interval = this.interval!;
    const closing = [...this.groups.values()].filter((g) => Number(g.key) + interval <= now).sort((a, b) => Number(a.key) - Number(b.key));
    for (const group of closing) {
      this.groups.delete(group.key);
      this.push({ position: this.position, record: this.resultOf(group) });
    }
    let next = Infinity;
    for (const group of this.groups.values()) next = Math.min(next, Number(group.key) + interval);
    if (next < Infinity) this.scheduleClose(next);
  }

  resize(): void {
    let capacity = 1;
    for (const subscriber of this.subscribers) capacity = Math.max(capacity, subscriber.options.retentionSize);
    this.capacity = Math.min(capacity, this.hub.settings.maxRetention);
  }

  dispose(): void {
    clearTimeout(this.bucketTimer);
  }
}

/** One socket's subscription to an evaluation: its own refresh period, retention and cursor. */
class Subscriber {
  private cursor = 0;
  private versionCursor = 0;
  /** Matches found while catching up to the feed (a gap between the caller's answer and the feed), pushed first. */
  initial: Stored[] = [];
  /** Records ≤ this offset are in the caller's answer already. */
  skipUpTo = 0;
  private started = false;
  private closed = false;
  private timer?: NodeJS.Timeout;
  private lastPushAt = -Infinity;
  private errored = false;

  constructor(
    readonly evaluation: Evaluation,
    readonly options: LiveSubscribeOptions,
    private readonly hub: LiveMetrics,
  ) {}

  /** From now on, only what the evaluation applies next is new to this subscriber. */
  attach(): void {
    this.cursor = this.evaluation.seq;
    this.versionCursor = this.evaluation.version;
    // An aggregate answered by the caller up to `after`: groups changed since then are new to this subscriber.
    if (!this.evaluation.plain && this.options.after !== undefined) this.sinceAfter = this.options.after;
  }

  private sinceAfter = Infinity;

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.changed();
  }

  /** Something new: a push is scheduled, no sooner than one refresh period after the previous one. */
  changed(): void {
    if (!this.started || this.closed || this.timer) return;
    const wait = Math.max(0, this.lastPushAt + this.options.refreshPeriodMs - this.hub.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  error(message: string): void {
    if (this.errored) return;
    this.errored = true;
    this.options.onError?.(this.evaluation.quid, message);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    const evaluation = this.evaluation;
    let records: LiveMetricRecord[];
    let dropped = 0;
    let position = evaluation.position;
    if (evaluation.plain || evaluation.interval !== undefined) {
      const first = Math.max(this.cursor, evaluation.baseSeq);
      dropped = first - this.cursor; // entries no longer kept (more matched than anyone's retention)
      let taken = evaluation.entries.slice(first - evaluation.baseSeq);
      this.cursor = evaluation.seq;
      if (this.skipUpTo > 0 && evaluation.plain) taken = taken.filter((s) => s.position > this.skipUpTo);
      if (this.initial.length > 0) {
        taken = [...this.initial, ...taken];
        this.initial = [];
      }
      if (taken.length === 0) return;
      const retention = this.options.retentionSize;
      if (taken.length > retention) {
        dropped += taken.length - retention;
        taken = taken.slice(taken.length - retention);
      }
      records = taken.map((s) => s.record);
      position = evaluation.plain ? taken.at(-1)!.position : position;
    } else {
      records = [];
      for (const group of evaluation.groups.values()) if (group.version > this.versionCursor || group.position > this.sinceAfter) records.push(evaluation.resultOf(group));
      this.versionCursor = evaluation.version;
      this.sinceAfter = Infinity;
      if (records.length === 0) return;
    }
    this.lastPushAt = this.hub.now();
    const push: LivePush = { quid: evaluation.quid, records, position };
    if (dropped > 0) push.dropped = dropped;
    this.hub.pushes++;
    this.options.onPush(push);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

/**
 * Live metric queries of this process: identical queries (same key) share one evaluation; all
 * evaluations of a stream share one subscription (a Feed), which finds those indexed by a tag value with a
 * map lookup. An evaluation or a subscriber that must start behind the feed (an aggregate built from the
 * stream, a resume, a gap after the caller's answer) catches up with a subscription of its own from its
 * position and joins the feed where the two meet, so nothing is applied twice or missed.
 */
export class LiveMetrics {
  private readonly logger = new Logger(LiveMetrics.name);
  private readonly feeds = new Map<string, Feed>();
  private readonly evaluations = new Map<string, Evaluation>();
  recordsSeen = 0;
  predicateTests = 0;
  pushes = 0;
  now: () => number = Date.now;

  constructor(
    private readonly catalog: CatalogView,
    private readonly subscriptions: StreamSubscriptions,
    readonly settings: LiveMetricsSettings,
    private readonly stored?: StoredAnswer,
  ) {}

  async subscribe(spec: LiveMetricQuerySpec, options: LiveSubscribeOptions): Promise<LiveMetricSubscription> {
    const feed = await this.feedOf(spec.stream);
    const key = `${feed.streamId}\u0000${spec.key}`;
    let evaluation = this.evaluations.get(key);
    let created = false;
    if (!evaluation) {
      evaluation = new Evaluation(spec, feed, this);
      this.evaluations.set(key, evaluation);
      created = true;
      evaluation.ready = this.join(feed, evaluation);
    }
    const subscriber = new Subscriber(evaluation, options, this);
    try {
      await evaluation.ready;
      if (evaluation.plain) return await this.subscribePlain(feed, evaluation, subscriber, key);
      this.add(evaluation, subscriber);
      const subscriberRef = subscriber;
      return {
        quid: evaluation.quid,
        records: evaluation.interval !== undefined ? [] : evaluation.currentResult(),
        position: evaluation.position,
        start: () => subscriberRef.start(),
        close: () => this.leave(key, feed, subscriberRef),
      };
    } catch (error) {
      if (created && evaluation.subscribers.size === 0) this.drop(key, feed, evaluation);
      throw error;
    }
  }

  private async subscribePlain(feed: Feed, evaluation: Evaluation, subscriber: Subscriber, key: string): Promise<LiveMetricSubscription> {
    const { after, fromPosition } = subscriber.options;
    const close = () => this.leave(key, feed, subscriber);
    const handle = (records: LiveMetricRecord[] | undefined, position: number): LiveMetricSubscription => ({
      quid: evaluation.quid,
      records,
      position,
      start: () => subscriber.start(),
      close,
    });
    if (fromPosition === undefined && after !== undefined && after >= feed.position) {
      // The caller's answer reaches as far as the feed, or further: it only skips what the answer holds.
      subscriber.skipUpTo = after;
      this.add(evaluation, subscriber);
      return handle(undefined, after);
    }
    // Behind the feed: read the stream from there until meeting the feed.
    const start = fromPosition ?? after ?? 0;
    const resume = fromPosition !== undefined || after === undefined;
    const found: Stored[] = [];
    const limit = this.settings.maxResumeRecords;
    await this.catchUp(feed, start, (stored) => {
      if (!evaluation.test(stored)) return;
      if (resume && found.length >= limit) {
        throw new DomainError(`more than ${limit} records matched after position ${start}: read them with /query (from/to), then resume from a later position`, 'LIVE_TOO_MANY_RECORDS');
      }
      found.push(stored);
    }, (meetAt) => {
      // Joined where the catch-up met the feed: the feed gives what comes after.
      subscriber.skipUpTo = meetAt;
      this.add(evaluation, subscriber);
    });
    if (resume) return handle(found.map((s) => s.record), found.at(-1)?.position ?? start);
    subscriber.initial = found;
    return handle(undefined, after!);
  }

  private add(evaluation: Evaluation, subscriber: Subscriber): void {
    subscriber.attach();
    evaluation.subscribers.add(subscriber);
    evaluation.resize();
  }

  /** A new evaluation: plain ones join the feed where it is; aggregates are built from the stream's start first. */
  private async join(feed: Feed, evaluation: Evaluation): Promise<void> {
    if (evaluation.plain) {
      evaluation.position = feed.position;
      evaluation.attached = true;
      feed.attach(evaluation);
      return;
    }
    const seeded = await this.seed(feed, evaluation);
    await this.catchUp(feed, seeded ?? 0, (stored) => {
      if (evaluation.test(stored)) evaluation.apply(stored);
      else evaluation.position = stored.position;
    }, (meetAt) => {
      evaluation.skipUpTo = meetAt;
      evaluation.position = Math.max(evaluation.position, meetAt);
      evaluation.attached = true;
      feed.attach(evaluation);
    });
  }

  /**
   * An aggregate's groups from the read model (count, sum, min and max of each group, all at one position, so
   * deletes are reflected and the stream is not read from its start), when its aggregates allow it: returns the
   * position the state stands at, or undefined (then it is built from the stream).
   */
  private async seed(feed: Feed, evaluation: Evaluation): Promise<number | undefined> {
    const shape = evaluation.spec.shape;
    if (!this.stored || shape.kind !== 'aggregate' || !shape.aggregates.every((a) => SEEDABLE.has(a.fn))) return undefined;
    const interval = evaluation.interval;
    const groupBy = shape.groupBy;
    let where = evaluation.spec.where;
    if (interval !== undefined) {
      // Only buckets still open matter: closed ones are never pushed.
      const open: MetricCondition = { kind: 'compare', field: 'timestamp', operator: '>=', value: Math.floor(this.now() / interval) * interval };
      where = where ? { kind: 'and', left: where, right: open } : open;
    }
    const fns = ['count', 'sum', 'min', 'max'] as const;
    const select = (fn: (typeof fns)[number]): MetricSelection => ({ fields: [{ name: fn === 'count' ? '*' : 'value', aggregation: fn }], distinct: false, where, groupBy });
    try {
      for (let attempt = 0; attempt < SEED_ATTEMPTS; attempt++) {
        const answers = groupBy ? await Promise.all(fns.map((fn) => this.stored!(feed.stream, select(fn)))) : [await this.stored(feed.stream, { fields: fns.map((fn) => ({ name: fn === 'count' ? '*' : 'value', aggregation: fn })), distinct: false, where })];
        const position = answers[0].position;
        if (answers.some((a) => a.position !== position)) continue; // written meanwhile: ask again
        evaluation.seed(answers, fns, position);
        return position;
      }
    } catch (error) {
      this.logger.warn(`${feed.stream}: cannot seed a live aggregate from the read model (${(error as Error).message}); reading the stream instead`);
    }
    return undefined;
  }

  /**
   * Reads the stream after `after` with a subscription of its own (catch-up, then live), handing each record
   * to `onRecord`, until it stands where the feed stands or further: then `meet(position)` runs, in the
   * same turn, so what the feed delivers next is exactly what comes after.
   */
  private catchUp(feed: Feed, after: number, onRecord: (stored: Stored) => void, meet: (position: number) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let position = after;
      let done = false;
      let subscription: StreamSubscription | undefined = undefined;
      const finish = (error?: unknown) => {
        if (done) return;
        done = true;
        subscription?.close();
        if (error) reject(error);
        else {
          meet(position);
          resolve();
        }
      };
      const tryMeet = () => {
        if (!done && subscription?.caughtUp && feed.position <= position) finish();
      };
      subscription = this.subscriptions.subscribe(feed.streamId, after, (event) => {
        if (done || 'transient' in event) return;
        const record = metricRecord(event);
        if (record) {
          try {
            onRecord({ position: event.streamPosition, record });
          } catch (error) {
            position = event.streamPosition;
            finish(error);
            return;
          }
        }
        position = event.streamPosition;
        tryMeet();
      });
      void subscription.whenCaughtUp().then(tryMeet, () => undefined);
      // The feed may be ahead only by events the catch-up has yet to hear; it will. A poll covers a quiet stream.
      const poll = setInterval(() => {
        if (done) return clearInterval(poll);
        tryMeet();
      }, 20);
      poll.unref();
    });
  }

  private leave(key: string, feed: Feed, subscriber: Subscriber): void {
    subscriber.close();
    const evaluation = subscriber.evaluation;
    if (!evaluation.subscribers.delete(subscriber)) return;
    evaluation.resize();
    if (evaluation.subscribers.size === 0) this.drop(key, feed, evaluation);
  }

  private drop(key: string, feed: Feed, evaluation: Evaluation): void {
    if (this.evaluations.get(key) !== evaluation) return;
    this.evaluations.delete(key);
    evaluation.dispose();
    feed.detach(evaluation);
    if (feed.size === 0 && ![...this.evaluations.values()].some((e) => e.feed === feed)) {
      feed.close();
      if (this.feeds.get(feed.stream) === feed) this.feeds.delete(feed.stream);
    }
  }

  private async feedOf(stream: string): Promise<Feed> {
    const existing = this.feeds.get(stream);
    const entry = await this.catalog.stream(stream);
    if (!entry) throw new StreamNotFoundError(stream);
    const streamId = recordStreamId(stream, entry.generation);
    if (existing && existing.streamId === streamId) return existing;
    const again = this.feeds.get(stream);
    if (again && again.streamId === streamId) return again;
    if (again) {
      // The stream was deleted and made again: its old evaluations go on hearing nothing; new ones use the new stream.
      this.logger.log(`${stream}: a new generation; live queries subscribed from now on follow it`);
    }
    const after = await this.subscriptions.store.streamPosition(streamId);
    const raced = this.feeds.get(stream);
    if (raced && raced.streamId === streamId) return raced;
    const feed = new Feed(stream, streamId, after, this.subscriptions, this);
    this.feeds.set(stream, feed);
    return feed;
  }

  stats(): LiveMetricsStats {
    let subscribers = 0;
    let indexed = 0;
    for (const evaluation of this.evaluations.values()) {
      subscribers += evaluation.subscribers.size;
      if (evaluation.indexOn) indexed++;
    }
    return { feeds: this.feeds.size, evaluations: this.evaluations.size, subscribers, indexedEvaluations: indexed, recordsSeen: this.recordsSeen, predicateTests: this.predicateTests };
  }

  stop(): void {
    for (const evaluation of this.evaluations.values()) {
      evaluation.dispose();
      for (const subscriber of evaluation.subscribers) subscriber.close();
    }
    this.evaluations.clear();
    for (const feed of this.feeds.values()) feed.close();
    this.feeds.clear();
  }
}
