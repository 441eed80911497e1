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
import type { MetricCondition, MetricGroupState, MetricGroupStatesRequest, MetricRecord, MetricSelection } from '../metrics/domain/metric-query.js';
import type { LiveMetricQuerySpec, LiveMetricRecord, LiveMetricsStats, LiveMetricSubscription, LivePush, LiveSubscribeOptions } from './commands.js';

/**
 * The metrics read model (`metric_points`, through the QueryBus), which seeds aggregate and distinct
 * evaluations (and re-seeds them after a delete): the stream is never read from its start.
 */
export type LiveReadModel = {
  /** Every group's incremental state, complete up to `position`. */
  groupStates(stream: string, request: MetricGroupStatesRequest): Promise<{ groups: MetricGroupState[]; position: number }>;
  /** A select's answer, complete up to `position`. */
  select(stream: string, selection: MetricSelection): Promise<{ records: MetricRecord[]; position: number }>;
};

/** Records held while an evaluation is re-seeded after a delete; past it they are dropped and the seed asked again. */
const MAX_HELD = 10_000;

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

/** The value of a DISTINCT's field in a record, and where it sits (as the read model answers a DISTINCT). */
function distinctRecordOf(record: LiveMetricRecord, field: string): LiveMetricRecord | undefined {
  if (field === 'timestamp') return { timestamp: record.timestamp, value: 0, dimensions: {}, tags: {} };
  if (field === 'value') return { timestamp: 0, value: record.value, dimensions: {}, tags: {} };
  if (Object.hasOwn(record.dimensions, field)) return { timestamp: 0, value: 0, dimensions: { [field]: record.dimensions[field] }, tags: {} };
  if (Object.hasOwn(record.tags, field)) return { timestamp: 0, value: 0, dimensions: {}, tags: { [field]: record.tags[field] } };
  return undefined;
}

function distinctKeyOf(record: MetricRecord | LiveMetricRecord, field: string): string | undefined {
  if (field === 'timestamp') return valueKey(record.timestamp);
  if (field === 'value') return valueKey(record.value);
  const v = Object.hasOwn(record.dimensions, field) ? record.dimensions[field] : Object.hasOwn(record.tags, field) ? record.tags[field] : undefined;
  return v === undefined ? undefined : valueKey(v);
}

/** The key count(distinct f) keeps a value under (`*` and `value`: the record's value). */
const distinctValueKey = (v: unknown) => typeof v + ':' + String(v);

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
    if (event.type === 'PointsDeleted') {
      // Running aggregates cannot subtract: each one is re-seeded from the read model, which applied the delete.
      for (const evaluation of this.evaluations()) if (!evaluation.plain) evaluation.reseed(event.streamPosition);
      return;
    }
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

  /** Every evaluation attached to this feed. */
  *evaluations(): Iterable<Evaluation> {
    for (const byValue of this.indexed.values()) for (const set of byValue.values()) yield* set;
    yield* this.others;
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

/** A group whose points were all deleted: pushed once (its aggregate over nothing), then forgotten. */
type Tombstone = { version: number; position: number; record: LiveMetricRecord };

type Seeded = { kind: 'groups'; groups: Map<string, Group>; position: number; overflow: boolean } | { kind: 'distinct'; seen: Map<string, LiveMetricRecord>; position: number };

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
  groups = new Map<string, Group>();
  readonly tombstones = new Map<string, Tombstone>();
  version = 0;
  overflowed = false;
  // distinct: the values seen, by key
  seen = new Map<string, LiveMetricRecord>();
  /** While re-seeding after a delete: the records heard meanwhile (applied after the seed, if it does not hold them). */
  held?: Stored[];
  reseedAgain = false;
  /** A delete was heard while joining the feed: re-seed once attached. */
  deletedWhileJoining = false;
  /** The position the next re-seed reads the state at (the newest delete heard). */
  reseedAt = 0;
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

  get distinct(): string | undefined {
    return this.spec.shape.kind === 'distinct' ? this.spec.shape.field : undefined;
  }

  /** Subscribers take entries (matches, closed buckets, new distinct values) rather than changed groups. */
  get entryBased(): boolean {
    return this.spec.shape.kind !== 'aggregate' || this.interval !== undefined;
  }

  private get distinctFields(): string[] {
    const shape = this.spec.shape;
    return shape.kind === 'aggregate' ? shape.aggregates.flatMap((a) => (a.distinctField === undefined ? [] : [a.distinctField])) : [];
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
    if (this.held) {
      if (this.held.length >= MAX_HELD) {
        this.held = [];
        this.reseedAgain = true; // the next seed holds them
      }
      this.held.push(stored);
      return;
    }
    if (this.test(stored)) this.apply(stored);
    else this.position = stored.position;
  }

  /** A matching record: into the state, and subscribers told. */
  apply(stored: Stored): void {
    this.position = stored.position;
    const shape = this.spec.shape;
    if (shape.kind === 'plain') {
      this.push(this.project(stored));
      return;
    }
    const { record } = stored;
    if (shape.kind === 'distinct') {
      const key = distinctKeyOf(record, shape.field);
      if (key === undefined || this.seen.has(key)) return;
      if (this.seen.size >= this.hub.settings.maxGroups) return this.overflow();
      const value = distinctRecordOf(record, shape.field)!;
      this.seen.set(key, value);
      this.push({ position: stored.position, record: value });
      return;
    }
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
      if (this.groups.size >= this.hub.settings.maxGroups) return this.overflow();
      group = { key, record: template(), state: newGroup(this.distinctFields), version: 0, position: 0 };
      this.groups.set(key, group);
      this.tombstones.delete(key); // the group is back: its new result supersedes the tombstone
    }
    group.position = stored.position;
    const max = this.hub.settings.maxGroups;
    if (!addToGroup(group.state, record.value, record.timestamp, (field) => fieldOf(record, field === '*' ? 'value' : field), max)) {
      this.error(`too many distinct values: a live count(distinct …) keeps at most ${max} per group; further ones are not counted`);
    }
    if (interval !== undefined) return; // pushed when the clock closes it
    group.version = ++this.version;
    this.notify();
  }

  /** A plain select's match as pushed: only the dimensions and tags it names, when it names fields. */
  project(stored: Stored): Stored {
    const shape = this.spec.shape;
    if (shape.kind !== 'plain' || !shape.fields) return stored;
    const keep = new Set(shape.fields);
    const pick = (o: Record<string, string | number>) => Object.fromEntries(Object.entries(o).filter(([k]) => keep.has(k)));
    const { record } = stored;
    return { position: stored.position, record: { timestamp: record.timestamp, value: record.value, dimensions: pick(record.dimensions), tags: pick(record.tags) } };
  }

  private overflow(): void {
    if (this.overflowed) return;
    this.overflowed = true;
    const what = this.distinct !== undefined ? 'distinct values' : 'groups';
    for (const subscriber of this.subscribers) subscriber.error(`too many ${what}: a live query keeps at most ${this.hub.settings.maxGroups}; further ${what} are not pushed`);
  }

  /** The key and result template of a group the read model answered. */
  private groupOf(state: MetricGroupState, position: number): Group | undefined {
    const shape = this.spec.shape as Extract<LiveMetricQuerySpec['shape'], { kind: 'aggregate' }>;
    const interval = this.interval;
    let key: string;
    let record: LiveMetricRecord;
    if (interval !== undefined) {
      const lower = Number(state.group);
      if (!Number.isFinite(lower)) return undefined;
      key = String(lower);
      record = { timestamp: lower + interval, value: 0, dimensions: { lowerBound: lower, upperBound: lower + interval }, tags: {} };
    } else if (shape.groupBy?.kind === 'tag') {
      if (state.group === undefined || state.group === null) return undefined;
      key = valueKey(state.group);
      record = { timestamp: 0, value: 0, dimensions: {}, tags: { [shape.groupBy.field]: state.group } };
    } else {
      key = '';
      record = { timestamp: 0, value: 0, dimensions: {}, tags: {} };
    }
    const group = newGroup(this.distinctFields);
    Object.assign(group, {
      count: state.count,
      sum: state.sum,
      min: state.min ?? Infinity,
      max: state.max ?? -Infinity,
      firstTs: state.firstTs ?? Infinity,
      firstValue: state.firstValue ?? 0,
      lastTs: state.lastTs ?? -Infinity,
      lastValue: state.lastValue ?? 0,
    });
    for (const [field, values] of group.distinct ?? []) for (const v of state.distinct[field] ?? []) values.add(distinctValueKey(v));
    return { key, record, state: group, version: 0, position };
  }

  /** The request that seeds this evaluation (aggregates): its where, only the open buckets for an interval. */
  seedRequest(now: number): MetricGroupStatesRequest {
    const shape = this.spec.shape as Extract<LiveMetricQuerySpec['shape'], { kind: 'aggregate' }>;
    const interval = this.interval;
    let where = this.spec.where;
    if (interval !== undefined) {
      // Only buckets still open matter: closed ones are never pushed.
      const open: MetricCondition = { kind: 'compare', field: 'timestamp', operator: '>=', value: Math.floor(now / interval) * interval };
      where = where ? { kind: 'and', left: where, right: open } : open;
    }
    return { where, groupBy: shape.groupBy, distinctFields: this.distinctFields, maxGroups: this.hub.settings.maxGroups };
  }

  /** The groups of the read model's answer (at most maxGroups). */
  groupsOf(answer: { groups: MetricGroupState[]; position: number }): Seeded {
    const groups = new Map<string, Group>();
    let overflow = false;
    for (const state of answer.groups) {
      const group = this.groupOf(state, answer.position);
      if (!group) continue;
      if (Object.values(state.distinct).some((values) => values.length > this.hub.settings.maxGroups)) {
        throw new DomainError(`too many distinct values: a live count(distinct …) keeps at most ${this.hub.settings.maxGroups} per group; narrow the WHERE`, 'LIVE_TOO_MANY_GROUPS');
      }
      if (groups.size >= this.hub.settings.maxGroups) {
        overflow = true;
        break;
      }
      groups.set(group.key, group);
    }
    return { kind: 'groups', groups, position: answer.position, overflow };
  }

  /** The state from the read model, in place of the current one. Changed and emptied groups are pushed. */
  replace(seeded: Seeded, initial = false): void {
    this.position = Math.max(this.position, seeded.position);
    this.skipUpTo = Math.max(this.skipUpTo, seeded.position);
    if (seeded.kind === 'distinct') {
      const old = this.seen;
      this.seen = seeded.seen;
      // Values that came (while the seed was read) and are not known yet are new: pushed.
      if (!initial) for (const [key, record] of seeded.seen) if (!old.has(key)) this.push({ position: seeded.position, record });
      return;
    }
    if (seeded.overflow) this.overflow();
    const old = this.groups;
    this.groups = seeded.groups;
    const interval = this.interval;
    if (interval !== undefined) {
      let next = Infinity;
      for (const group of this.groups.values()) next = Math.min(next, Number(group.key) + interval);
      if (next < this.nextClose) this.scheduleClose(next);
      return; // open buckets are pushed when the clock closes them
    }
    let changed = false;
    for (const [key, group] of this.groups) {
      const before = old.get(key);
      if (before && JSON.stringify(this.resultOf(before)) === JSON.stringify(this.resultOf(group))) {
        group.version = before.version;
        group.position = before.position;
        group.result = undefined;
      } else {
        group.version = ++this.version;
        group.position = seeded.position;
        this.tombstones.delete(key);
        changed = true;
      }
    }
    for (const [key, before] of old) {
      if (this.groups.has(key)) continue;
      const empty: Group = { key, record: before.record, state: newGroup(this.distinctFields), version: 0, position: seeded.position };
      this.tombstones.set(key, { version: ++this.version, position: seeded.position, record: this.resultOf(empty) });
      changed = true;
    }
    if (changed) this.notify();
  }

  /** A delete was heard: the state is asked of the read model again (records heard meanwhile are held). */
  reseed(at: number): void {
    if (!this.attached) {
      this.deletedWhileJoining = true;
      return;
    }
    this.reseedAt = Math.max(this.reseedAt, at);
    if (this.held) {
      this.reseedAgain = true;
      return;
    }
    this.held = [];
    void this.hub.reseed(this);
  }

  /** After a re-seed: the held records the seed does not hold. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const stored of held) this.offer(stored);
  }

  /** The metric was dropped: every group empties (pushed), the distinct values are forgotten. */
  emptied(position: number): void {
    if (this.spec.shape.kind === 'aggregate') {
      const global = this.spec.shape.groupBy === undefined;
      const groups = new Map<string, Group>();
      if (global) groups.set('', { key: '', record: { timestamp: 0, value: 0, dimensions: {}, tags: {} }, state: newGroup(this.distinctFields), version: 0, position });
      this.replace({ kind: 'groups', groups, position, overflow: false });
    } else if (this.spec.shape.kind === 'distinct') this.seen = new Map();
  }

  error(message: string): void {
    for (const subscriber of this.subscribers) subscriber.error(message);
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

  /** Tombstones every subscriber has taken are forgotten. */
  prune(): void {
    if (this.tombstones.size === 0) return;
    let min = Infinity;
    for (const subscriber of this.subscribers) min = Math.min(min, subscriber.versionSeen);
    for (const [key, tombstone] of this.tombstones) if (tombstone.version <= min) this.tombstones.delete(key);
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
  get versionSeen(): number {
    return this.versionCursor;
  }
  /** Matches found while catching up to the feed (a gap between the caller's answer and the feed), pushed first. */
  initial: Stored[] = [];
  /** Records ≤ this offset are in the caller's answer already. */
  skipUpTo = 0;
  private started = false;
  private closed = false;
  private timer?: NodeJS.Timeout;
  private lastPushAt = -Infinity;
  private readonly errors = new Set<string>();

  constructor(
    readonly evaluation: Evaluation,
    readonly options: LiveSubscribeOptions,
    private readonly hub: LiveMetrics,
  ) {}

  /** From now on, only what the evaluation applies next is new to this subscriber. */
  attach(): void {
    this.cursor = this.evaluation.seq;
    this.versionCursor = this.evaluation.version;
    if (this.evaluation.distinct !== undefined && this.options.after !== undefined) {
      // New values the evaluation found after the caller's answer are new to this subscriber; those in it are not.
      const after = this.options.after;
      this.skipUpTo = after;
      const i = this.evaluation.entries.findIndex((e) => e.position > after);
      if (i >= 0) this.cursor = this.evaluation.baseSeq + i;
      return;
    }
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
    if (this.errors.has(message)) return;
    this.errors.add(message);
    this.options.onError?.(this.evaluation.quid, message);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    const evaluation = this.evaluation;
    let records: LiveMetricRecord[];
    let dropped = 0;
    let position = evaluation.position;
    if (evaluation.entryBased) {
      const first = Math.max(this.cursor, evaluation.baseSeq);
      dropped = first - this.cursor; // entries no longer kept (more matched than anyone's retention)
      let taken = evaluation.entries.slice(first - evaluation.baseSeq);
      this.cursor = evaluation.seq;
      if (this.skipUpTo > 0 && evaluation.interval === undefined) taken = taken.filter((s) => s.position > this.skipUpTo);
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
      for (const tombstone of evaluation.tombstones.values()) if (tombstone.version > this.versionCursor || tombstone.position > this.sinceAfter) records.push(tombstone.record);
      for (const group of evaluation.groups.values()) if (group.version > this.versionCursor || group.position > this.sinceAfter) records.push(evaluation.resultOf(group));
      this.versionCursor = evaluation.version;
      this.sinceAfter = Infinity;
      evaluation.prune();
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
    private readonly readModel: LiveReadModel,
  ) {
    this.stopWatchingCatalog = catalog.onChange((state) => {
      for (const feed of [...this.feeds.values()]) {
        const entry = Object.hasOwn(state.streams, feed.stream) ? state.streams[feed.stream] : undefined;
        if (!entry || recordStreamId(feed.stream, entry.generation) !== feed.streamId) this.dropped(feed);
      }
    });
  }

  private readonly stopWatchingCatalog: () => void;

  /** The feed's stream was deleted (DROP METRIC) or replaced: its evaluations empty, their subscribers are told. */
  private dropped(feed: Feed): void {
    if (this.feeds.get(feed.stream) === feed) this.feeds.delete(feed.stream);
    const name = feed.stream.split('.').slice(2).join('.');
    for (const evaluation of this.evaluations.values()) {
      if (evaluation.feed !== feed) continue;
      evaluation.emptied(feed.position);
      evaluation.error(`Metric ${name} does not exist: it was dropped; subscribe again to follow a new one`);
    }
  }

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
        records: evaluation.interval !== undefined || evaluation.distinct !== undefined ? [] : evaluation.currentResult(),
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
      found.push(evaluation.project(stored));
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

  /**
   * A new evaluation: plain ones join the feed where it is; aggregates and distinct ones are seeded from the
   * read model first, then read the stream from the seed's position to where the feed stands.
   */
  private async join(feed: Feed, evaluation: Evaluation): Promise<void> {
    if (evaluation.plain) {
      evaluation.position = feed.position;
      evaluation.attached = true;
      feed.attach(evaluation);
      return;
    }
    const seeded = await this.seedOf(feed, evaluation);
    if (seeded.kind === 'groups' && seeded.overflow) {
      throw new DomainError(`too many groups: a live aggregate keeps at most ${this.settings.maxGroups}; narrow the WHERE`, 'LIVE_TOO_MANY_GROUPS');
    }
    evaluation.replace(seeded, true);
    await this.catchUp(
      feed,
      seeded.position,
      (stored) => {
        if (evaluation.test(stored)) evaluation.apply(stored);
        else evaluation.position = stored.position;
      },
      (meetAt) => {
        evaluation.skipUpTo = meetAt;
        evaluation.position = Math.max(evaluation.position, meetAt);
        evaluation.attached = true;
        feed.attach(evaluation);
        if (evaluation.deletedWhileJoining) {
          evaluation.deletedWhileJoining = false;
          evaluation.reseed(meetAt);
        }
      },
      () => (evaluation.deletedWhileJoining = true),
    );
  }

  /** The evaluation's state as the read model holds it (through the QueryBus), at one position. */
  private async seedOf(feed: Feed, evaluation: Evaluation, upToPosition?: number): Promise<Seeded> {
    const field = evaluation.distinct;
    const at = <T extends { position: number }>(answer: T): T => (upToPosition === undefined ? answer : { ...answer, position: upToPosition });
    try {
      if (field !== undefined) {
        const answer = at(await this.readModel.select(feed.stream, { fields: [{ name: field }], distinct: true, where: evaluation.spec.where, upToPosition }));
        if (answer.records.length > this.settings.maxGroups) {
          throw new DomainError(`too many distinct values: a live DISTINCT keeps at most ${this.settings.maxGroups}; narrow the WHERE`, 'LIVE_TOO_MANY_GROUPS');
        }
        const seen = new Map<string, LiveMetricRecord>();
        for (const record of answer.records) {
          const key = distinctKeyOf(record, field);
          if (key !== undefined) seen.set(key, record);
        }
        return { kind: 'distinct', seen, position: answer.position };
      }
      return evaluation.groupsOf(at(await this.readModel.groupStates(feed.stream, { ...evaluation.seedRequest(this.now()), upToPosition })));
    } catch (error) {
      if (error instanceof DomainError) throw error;
      throw new DomainError(`cannot read the live query's state from the metrics read model: ${(error as Error).message}`, 'LIVE_SEED_FAILED');
    }
  }

  /** After a delete: the evaluation's state again from the read model, then the records held meanwhile. */
  async reseed(evaluation: Evaluation): Promise<void> {
    try {
      do {
        evaluation.reseedAgain = false;
        // The state as it stood at the delete: the records after it are held, and applied next.
        const seeded = await this.seedOf(evaluation.feed, evaluation, evaluation.reseedAt);
        if (this.evaluations.get(`${evaluation.feed.streamId}\u0000${evaluation.spec.key}`) !== evaluation) return; // dropped meanwhile
        if (!evaluation.reseedAgain) evaluation.replace(seeded);
      } while (evaluation.reseedAgain);
    } catch (error) {
      this.logger.warn(`${evaluation.feed.stream}: cannot re-seed a live query after a delete: ${(error as Error).message}`);
      evaluation.error(`a delete could not be applied to this live query (${(error as Error).message}); its pushes may count deleted points: subscribe again`);
    } finally {
      evaluation.release();
    }
  }

  /**
   * Reads the stream after `after` with a subscription of its own (catch-up, then live), handing each record
   * to `onRecord`, until it stands where the feed stands or further: then `meet(position)` runs, in the
   * same turn, so what the feed delivers next is exactly what comes after.
   */
  private catchUp(feed: Feed, after: number, onRecord: (stored: Stored) => void, meet: (position: number) => void, onDelete?: () => void): Promise<void> {
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
        if (event.type === 'PointsDeleted') onDelete?.();
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
    this.stopWatchingCatalog();
    for (const evaluation of this.evaluations.values()) {
      evaluation.dispose();
      for (const subscriber of evaluation.subscribers) subscriber.close();
    }
    this.evaluations.clear();
    for (const feed of this.feeds.values()) feed.close();
    this.feeds.clear();
  }
}
