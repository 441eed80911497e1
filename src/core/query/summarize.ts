import { aggregatorFor, type Aggregator } from './aggregates.js';
import { generateExpression, type JsGen } from './codegen.js';
import { closureArgs, generatedAdder, generatedArgs, loopAdder, type Adder, type ArgsEvaluator } from './codegen-aggregates.js';
import { tumblingStepSource, type StepRecord, type TumblingHost } from './summarize-step.js';
import { collectAggregates, compileExpression, safeSet, type Compiled, type Env } from './compile.js';
import { EvalFailure, QueryLimitError, QueryPlanError } from './errors.js';
import { newEnv, type Next, type OpContext, type OpRuntime, type RecordMeta } from './operator.js';
import type { Expression, JsonValue, SummarizeOp, WindowMeasure, WindowSpec } from './plan.js';
import { canonicalKey, isPlainObject, jsonOrNull } from './values.js';

/**
 * summarize: aggregates per group, over no window (emit modes) or a window (emitted when it closes).
 *
 * Shapes follow JSONJet (operators/summarize.js, core/window-functions.js, core/emit-functions.js): the output is
 * the aggregates object; the window is visible as a variable (`...w` spreads `_id, windowId, start, end, type,
 * mode, size|count|timeout[, hop]`); emit modes emit the current result of every group, in first-seen order.
 */

interface Group {
  keyValues: unknown[];
  aggs: unknown[];
  last: unknown;
  /**
   * When set, `last` is the record before a select and this is the select's projection of it, evaluated when
   * the group's last record is read (the generated step of `select {fields} | summarize`, summarize-step.ts).
   */
  pending: ((raw: unknown) => unknown) | null;
  /** Canonical form of the result last emitted for this group (emit on update). */
  emitted: string | null;
}
type Groups = Map<string, Group>;

interface FixedWindow {
  id: number;
  start: number;
  end: number;
  groups: Groups;
  /** The expressions' variables while evaluating a record of this window (made once per window, not per record). */
  vars?: Record<string, unknown> | null;
  /** Its groups by a primitive group key as is (a cache of `groups`, which is keyed canonically): no key string per record. */
  byValue?: Map<unknown, Group>;
}

interface Session {
  id: number;
  start: number;
  last: number;
  groups: Groups;
}

interface Prepared {
  key: string;
  keyValues: unknown[];
  values: unknown[];
}

interface SlidingEntry extends Prepared {
  record: unknown;
  pos: number;
}

type MeasureKind = 'count' | 'arrival' | 'value';

/** A group's last record (a pending projection is evaluated once, here). */
function lastOf(g: Group): unknown {
  if (g.pending !== null) {
    g.last = g.pending(g.last);
    g.pending = null;
  }
  return g.last;
}

export class SummarizeRuntime implements OpRuntime, TumblingHost {
  private readonly env: Env;
  private readonly aggregators: Aggregator[];
  /** Evaluates every aggregate's argument of a record (`true` for count()). */
  private readonly evalArgs: ArgsEvaluator;
  /** Adds those arguments to a group's aggregate states. */
  private readonly addArgs: Adder;
  private readonly output: Compiled;
  private readonly by: Compiled[];
  private readonly byNames: Array<string | undefined>;
  private readonly window: WindowSpec | undefined;
  private readonly windowVar: string;
  private readonly measure: MeasureKind;
  private readonly measureValue: Compiled | null;
  private readonly emitEvery: { interval: number; using: Compiled | 'arrival' | 'count' } | null = null;
  private readonly emitWhen: Compiled | null = null;
  private readonly emitChange: Compiled | null = null;
  /** The aggregate arguments of the record being pushed (tumbling windows: used at once, never kept). */
  private readonly scratch: unknown[];

  // --- state (all of it goes through save/load). The public part is the generated tumbling step's (TumblingHost).
  seen = 0;
  /** The watermark (null: none yet) as a flag and a number field, so that setting it allocates nothing. */
  hasWatermark = false;
  watermarkValue = 0;
  private groups: Groups = new Map();
  windows = new Map<number, FixedWindow>();
  /** The open window the last record went to (a cache of `windows`: a tumbling window gets many records in a row). */
  current: FixedWindow | undefined;
  /** The smallest end among the open fixed windows (Infinity: none), so a record that closes none skips the scan. */
  earliestEnd = Infinity;
  private session: Session | null = null;
  private sessionCounter = 0;
  private sliding: SlidingEntry[] = [];
  private everyCount = 0;
  private lastEvery: number | null = null;
  private lastChange: string | null = null;
  private lastGroup: string | null = null;

  private get watermark(): number | null {
    return this.hasWatermark ? this.watermarkValue : null;
  }

  private set watermark(value: number | null) {
    this.hasWatermark = value !== null;
    this.watermarkValue = value ?? 0;
  }

  constructor(
    private readonly spec: SummarizeOp,
    private readonly ctx: OpContext,
  ) {
    const { limits } = ctx;
    const opts = { maxDepth: limits.maxDepth };
    const compile = ctx.generated ? generateExpression : compileExpression;
    this.env = newEnv(ctx.lookup);
    if (spec.aggregates.kind !== 'object') throw new QueryPlanError('summarize aggregates must be an object');
    const nodes = collectAggregates(spec.aggregates);
    const slots = new Map<Expression, number>();
    nodes.forEach((n, i) => slots.set(n, i));
    this.aggregators = nodes.map((n) => aggregatorFor(n.fn, n.args.length));
    const args = nodes.map((n) => (n.args.length === 0 ? null : n.args[0]));
    this.evalArgs = (ctx.generated ? generatedArgs : closureArgs)(args, limits.maxDepth);
    this.addArgs = ctx.generated ? generatedAdder(nodes.map((n) => n.fn), this.aggregators) : loopAdder(this.aggregators);
    this.scratch = new Array<unknown>(args.length);
    this.output = compile(spec.aggregates, { ...opts, aggregateSlots: slots });
    this.by = spec.by.map((k) => compile(k.expr, opts));
    this.byNames = spec.by.map((k) => k.name);
    this.window = spec.window;
    this.windowVar = spec.windowVar ?? 'window';

    const w = spec.window;
    const measure: WindowMeasure = !w ? { by: 'count' } : w.type === 'count' ? { by: 'count' } : w.measure;
    this.measure = measure.by;
    this.measureValue = measure.by === 'value' ? compile(measure.value, opts) : null;

    if (w) {
      if (spec.emit.kind !== 'close') {
        throw new QueryPlanError('a summarize over a window emits when the window closes; emit clauses need no window');
      }
      const size = w.type === 'session' ? w.timeout : w.size;
      if (!(typeof size === 'number' && size > 0 && Number.isFinite(size))) {
        throw new QueryPlanError(`window size must be a positive number, got ${size}`);
      }
      if ((w.type === 'count' || this.measure === 'count') && !Number.isInteger(size)) {
        throw new QueryPlanError('a count window needs a whole number of records');
      }
      if (w.type === 'hopping') {
        if (!(w.hop > 0 && Number.isFinite(w.hop))) throw new QueryPlanError('hop must be a positive number');
        if (this.measure === 'count' && !Number.isInteger(w.hop)) throw new QueryPlanError('a count hop must be whole');
        const open = Math.ceil(w.size / w.hop);
        if (open > limits.maxOpenWindows) {
          throw new QueryLimitError(`hopping window keeps ${open} windows open (max ${limits.maxOpenWindows})`, 'maxOpenWindows', limits.maxOpenWindows);
        }
      }
      if (w.type === 'session' && this.measure === 'count') throw new QueryPlanError('a session window needs a time or a value');
      if (w.type === 'sliding' && this.measure === 'count' && w.size > limits.maxWindowItems) {
        throw new QueryLimitError(`sliding window of ${w.size} records exceeds ${limits.maxWindowItems}`, 'maxWindowItems', limits.maxWindowItems);
      }
    } else {
      const e = spec.emit;
      if (e.kind === 'close') throw new QueryPlanError('emit on close needs a window');
      if (e.kind === 'every') {
        if (!(e.interval > 0)) throw new QueryPlanError('emit every needs a positive interval');
        const using = e.using === undefined ? 'count' : e.using === 'arrival' ? 'arrival' : compile(e.using, opts);
        this.emitEvery = { interval: e.interval, using };
      } else if (e.kind === 'when') this.emitWhen = compile(e.condition, opts);
      else if (e.kind === 'change') this.emitChange = compile(e.value, opts);
    }
  }

  // ------------------------------------------------------------------------------------------ evaluation

  private windowInfo(id: number, start: number, end: number): Record<string, unknown> | null {
    const w = this.window;
    if (!w) return null;
    const mode = this.measure;
    if (w.type === 'count') return { _id: id, windowId: id, start, end, type: 'count', mode: 'count', count: w.size };
    if (w.type === 'session') return { _id: id, windowId: id, start, end, type: 'session', mode, timeout: w.timeout };
    const info: Record<string, unknown> = { _id: id, windowId: id, start, end, type: w.type, mode, size: w.size };
    if (w.type === 'hopping') info.hop = w.hop;
    return info;
  }

  private setVars(info: Record<string, unknown> | null): void {
    this.env.vars = info === null ? null : { [this.windowVar]: info };
  }

  /** Evaluates the group key and every aggregate argument; throws before any state changes. */
  private prepare(record: unknown, info: Record<string, unknown> | null): Prepared {
    this.setVars(info);
    const env = this.env;
    let keyValues: unknown[];
    let key: string;
    if (this.by.length === 0) {
      keyValues = [];
      key = '';
    } else {
      keyValues = this.by.map((f) => f(record, env));
      key = canonicalKey(keyValues.length === 1 ? keyValues[0] : keyValues);
    }
    const values = new Array<unknown>(this.aggregators.length);
    this.evalArgs(record, env, values);
    return { key, keyValues, values };
  }

  private checkGroups(groups: Groups, key: string, extra = 0): void {
    if (!groups.has(key) && groups.size + extra >= this.ctx.limits.maxGroups) {
      const max = this.ctx.limits.maxGroups;
      throw new QueryLimitError(`summarize holds more than ${max} groups`, 'maxGroups', max);
    }
  }

  private apply(groups: Groups, p: Prepared, record: unknown): Group {
    let g = groups.get(p.key);
    if (!g) {
      g = { keyValues: p.keyValues, aggs: this.aggregators.map((a) => a.init()), last: record, pending: null, emitted: null };
      groups.set(p.key, g);
    }
    this.addArgs(g.aggs, p.values, this.ctx.limits);
    g.last = record;
    return g;
  }

  private result(g: Group, info: Record<string, unknown> | null): unknown {
    this.setVars(info);
    const env = this.env;
    const aggs = new Array<unknown>(this.aggregators.length);
    for (let i = 0; i < aggs.length; i++) aggs[i] = this.aggregators[i].result(g.aggs[i]);
    env.aggs = aggs;
    const out = this.output(lastOf(g), env);
    env.aggs = null;
    if (isPlainObject(out)) {
      for (let i = 0; i < this.byNames.length; i++) {
        const name = this.byNames[i];
        const v = g.keyValues[i];
        if (name !== undefined && v !== undefined && !Object.hasOwn(out, name)) safeSet(out, name, v);
      }
    }
    return out;
  }

  private emitGroups(groups: Groups, info: Record<string, unknown> | null, meta: RecordMeta, next: Next, remember = false): void {
    for (const g of groups.values()) {
      let out: unknown;
      try {
        out = this.result(g, info);
      } catch (e) {
        this.ctx.report(e, meta);
        continue;
      }
      if (remember) g.emitted = canonicalKey(out);
      next(out, meta);
    }
  }

  private position(record: unknown, meta: RecordMeta): number {
    if (this.measure === 'count') return this.seen;
    if (this.measure === 'arrival') return meta.time;
    this.env.vars = null;
    return this.checkedPosition((this.measureValue as Compiled)(record, this.env));
  }

  checkedPosition(v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new EvalFailure(`window value must be a number, got ${v === undefined ? 'undefined' : JSON.stringify(v)}`);
    }
    return v;
  }

  // ------------------------------------------------------------------------------------------ push

  /** Source of one push as generated code (summarize-step.ts), for a tumbling window; null for anything else. */
  generatedStep(gen: JsGen, record: StepRecord, next: Next): string | null {
    const w = this.window;
    if (!this.ctx.generated || !w || !(w.type === 'tumbling' || w.type === 'count' || (w.type === 'hopping' && w.hop === w.size))) return null;
    const spec = this.spec;
    const nodes = collectAggregates(spec.aggregates);
    const measure = w.type === 'count' || w.measure.by === 'count' ? 'count' : w.measure.by === 'arrival' ? 'arrival' : { value: w.measure.value };
    return tumblingStepSource(gen, {
      host: this,
      env: this.env,
      limits: this.ctx.limits,
      size: w.size,
      measure,
      by: spec.by.map((b) => b.expr),
      args: nodes.map((n) => (n.args.length === 0 ? null : n.args[0])),
      fns: nodes.map((n) => n.fn),
      aggregators: this.aggregators,
      next,
    }, record);
  }

  push(record: unknown, meta: RecordMeta, next: Next): void {
    const w = this.window;
    if (!w) return this.pushNoWindow(record, meta, next);
    if (w.type === 'sliding') return this.pushSliding(record, meta, next, w.size);
    if (w.type === 'session') return this.pushSession(record, meta, next, w.timeout);
    const size = w.size;
    const hop = w.type === 'hopping' ? w.hop : size;
    return this.pushFixed(record, meta, next, size, hop);
  }

  private pushNoWindow(record: unknown, meta: RecordMeta, next: Next): void {
    const p = this.prepare(record, null);
    this.checkGroups(this.groups, p.key);
    // Emit decisions read the record first, so an error leaves the state as it was.
    const e = this.spec.emit;
    let emit = false;
    let everyValue: number | null = null;
    let changeKey: string | null = null;
    if (this.emitEvery) {
      const u = this.emitEvery.using;
      if (u === 'count') everyValue = this.everyCount + 1;
      else if (u === 'arrival') everyValue = meta.time;
      else {
        const v = u(record, this.env);
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new EvalFailure(`emit every … using must give a number, got ${JSON.stringify(v) ?? 'undefined'}`);
        everyValue = v;
      }
    } else if (this.emitWhen) {
      emit = !!this.emitWhen(record, this.env);
    } else if (this.emitChange) {
      changeKey = canonicalKey(this.emitChange(record, this.env));
    }
    const g = this.apply(this.groups, p, record);
    if (everyValue !== null) {
      if (this.emitEvery && this.emitEvery.using === 'count') this.everyCount++;
      if (this.lastEvery === null || everyValue - this.lastEvery >= (this.emitEvery as { interval: number }).interval) {
        this.lastEvery = everyValue;
        emit = true;
      }
    } else if (changeKey !== null) {
      emit = this.lastChange === null || this.lastChange !== changeKey;
      this.lastChange = changeKey;
    } else if (e.kind === 'groupChange') {
      emit = this.lastGroup === null || this.lastGroup !== p.key;
      this.lastGroup = p.key;
    } else if (e.kind === 'update') {
      let now: string;
      try {
        now = canonicalKey(this.result(g, null));
      } catch (err) {
        this.ctx.report(err, meta);
        return;
      }
      emit = now !== g.emitted;
    }
    if (emit) this.emitGroups(this.groups, null, meta, next, e.kind === 'update');
  }

  closeFixed(until: number, meta: RecordMeta, next: Next): void {
    if (until < this.earliestEnd) return;
    let closing: FixedWindow[] | undefined;
    let earliest = Infinity;
    for (const win of this.windows.values()) {
      if (win.end <= until) (closing ??= []).push(win);
      else if (win.end < earliest) earliest = win.end;
    }
    this.earliestEnd = earliest;
    if (!closing) return;
    closing.sort((a, b) => a.start - b.start);
    for (const win of closing) {
      this.windows.delete(win.id);
      if (win === this.current) this.current = undefined;
      this.emitGroups(win.groups, this.windowInfo(win.id, win.start, win.end), meta, next);
    }
  }

  varsOf(id: number, start: number, end: number): Record<string, unknown> | null {
    const info = this.windowInfo(id, start, end);
    return info === null ? null : { [this.windowVar]: info };
  }

  /**
   * A tumbling window (one window per record): what pushFixed does, without its per-record arrays and
   * window objects: the hot path of a live query or flow. Checks every bound before it changes anything.
   * summarize-step.ts generates the same steps as one function (the generated path); both share tumblingGroup.
   */
  private pushTumbling(record: unknown, meta: RecordMeta, next: Next, size: number): void {
    const pos = this.position(record, meta);
    const byCount = this.measure === 'count';
    if (!byCount && (!this.hasWatermark || pos > this.watermarkValue)) {
      this.hasWatermark = true;
      this.watermarkValue = pos;
      if (pos >= this.earliestEnd) this.closeFixed(pos, meta, next); // the test closeFixed starts with, inline
    }
    const k = Math.floor(pos / size);
    const start = k * size;
    const end = start + size;
    if (!byCount && end <= this.watermarkValue) return; // late for a closed window
    const id = byCount ? k : start;
    const current = this.current;
    const win = current !== undefined && current.id === id ? current : this.windows.get(id);
    const env = this.env;
    env.vars = win ? (win.vars ??= this.varsOf(id, start, end)) : this.varsOf(id, start, end);
    const by = this.by;
    let keyValue: unknown;
    let g: Group | undefined;
    if (by.length === 1) {
      keyValue = by[0](record, env);
      if (keyValue === null || typeof keyValue !== 'object') g = win?.byValue?.get(keyValue);
    } else if (by.length > 1) keyValue = by.map((f) => f(record, env));
    const values = this.scratch;
    this.evalArgs(record, env, values);
    if (g === undefined) g = this.tumblingGroup(win, id, start, end, keyValue, record);
    else this.current = win;
    this.addArgs(g.aggs, values, this.ctx.limits);
    g.last = record;
    if (byCount) {
      this.seen++;
      this.closeFixed(this.seen, meta, next); // a count window closes when full
    }
  }

  /**
   * The group of a record of tumbling window `id` (open as `win`, or not open yet) that its window's byValue
   * cache did not hold: checks the bounds, then opens the window and the group when they are new.
   */
  tumblingGroup(win: FixedWindow | undefined, id: number, start: number, end: number, keyValue: unknown, record: unknown): Group {
    if (!win && this.windows.size + 1 > this.ctx.limits.maxOpenWindows) {
      const max = this.ctx.limits.maxOpenWindows;
      throw new QueryLimitError(`more than ${max} windows open`, 'maxOpenWindows', max);
    }
    const by = this.by;
    const key = by.length === 0 ? '' : canonicalKey(keyValue);
    let g = win?.groups.get(key);
    if (!g && win) this.checkGroups(win.groups, key);
    if (!win) {
      win = { id, start, end, groups: new Map(), vars: this.env.vars };
      this.windows.set(id, win);
      if (end < this.earliestEnd) this.earliestEnd = end;
    }
    if (!g) {
      const keyValues = by.length === 0 ? [] : by.length === 1 ? [keyValue] : (keyValue as unknown[]);
      g = { keyValues, aggs: this.aggregators.map((a) => a.init()), last: record, pending: null, emitted: null };
      win.groups.set(key, g);
    }
    if (by.length === 1 && (keyValue === null || typeof keyValue !== 'object')) (win.byValue ??= new Map()).set(keyValue, g);
    this.current = win;
    return g;
  }

  private pushFixed(record: unknown, meta: RecordMeta, next: Next, size: number, hop: number): void {
    if (hop === size) return this.pushTumbling(record, meta, next, size);
    const pos = this.position(record, meta);
    const byCount = this.measure === 'count';
    if (!byCount) {
      this.watermark = this.watermark === null ? pos : Math.max(this.watermark, pos);
      this.closeFixed(this.watermark, meta, next);
    }
    const wm = this.watermark;
    let firstK = Math.floor((pos - size) / hop) + 1;
    const lastK = Math.floor(pos / hop);
    if (byCount && firstK < 0) firstK = 0;
    const targets: Array<{ id: number; start: number; end: number; prepared: Prepared }> = [];
    for (let k = firstK; k <= lastK; k++) {
      const start = k * hop;
      const end = start + size;
      if (!(start <= pos && pos < end)) continue;
      if (!byCount && wm !== null && end <= wm) continue; // late for a closed window
      const id = byCount ? k : start;
      targets.push({ id, start, end, prepared: this.prepare(record, this.windowInfo(id, start, end)) });
    }
    let newWindows = 0;
    for (const t of targets) {
      const win = this.windows.get(t.id);
      if (win) this.checkGroups(win.groups, t.prepared.key);
      else newWindows++;
    }
    if (this.windows.size + newWindows > this.ctx.limits.maxOpenWindows) {
      const max = this.ctx.limits.maxOpenWindows;
      throw new QueryLimitError(`more than ${max} windows open`, 'maxOpenWindows', max);
    }
    for (const t of targets) {
      let win = this.windows.get(t.id);
      if (!win) {
        win = { id: t.id, start: t.start, end: t.end, groups: new Map() };
        this.windows.set(t.id, win);
        if (win.end < this.earliestEnd) this.earliestEnd = win.end;
      }
      this.apply(win.groups, t.prepared, record);
    }
    if (byCount) {
      this.seen++;
      this.closeFixed(this.seen, meta, next); // a count window closes when full
    }
  }

  private pushSliding(record: unknown, meta: RecordMeta, next: Next, size: number): void {
    const pos = this.position(record, meta);
    const byCount = this.measure === 'count';
    const start = byCount ? Math.max(0, pos - size + 1) : pos - size + 1;
    const info = this.windowInfo(pos, start, pos + 1);
    const prepared = this.prepare(record, info);
    let buffer = this.sliding;
    if (byCount) {
      if (buffer.length >= size) buffer = buffer.slice(buffer.length - size + 1);
    } else {
      const wm = this.watermark === null ? pos : Math.max(this.watermark, pos);
      buffer = buffer.filter((e) => e.pos > wm - size);
      if (buffer.length >= this.ctx.limits.maxWindowItems) {
        const max = this.ctx.limits.maxWindowItems;
        throw new QueryLimitError(`sliding window holds more than ${max} records`, 'maxWindowItems', max);
      }
      this.watermark = wm;
    }
    buffer.push({ ...prepared, record, pos });
    this.sliding = buffer;
    if (byCount) this.seen++;
    // The window ending at this record: recompute its groups from the kept records.
    const groups: Groups = new Map();
    for (const e of buffer) {
      if (!byCount && !(e.pos > pos - size && e.pos <= pos)) continue;
      try {
        this.checkGroups(groups, e.key);
      } catch (err) {
        this.ctx.report(err, meta);
        return;
      }
      this.apply(groups, e, e.record);
    }
    this.emitGroups(groups, info, meta, next);
  }

  private sessionInfo(s: Session, timeout: number): Record<string, unknown> | null {
    return this.windowInfo(s.id, s.start, s.last + timeout);
  }

  private pushSession(record: unknown, meta: RecordMeta, next: Next, timeout: number): void {
    const pos = this.position(record, meta);
    if (this.session && pos - this.session.last > timeout) this.closeSession(meta, next, timeout);
    const s = this.session;
    const tentative: Session = s ?? { id: this.sessionCounter + 1, start: pos, last: pos, groups: new Map() };
    const prepared = this.prepare(record, this.windowInfo(tentative.id, tentative.start, Math.max(tentative.last, pos) + timeout));
    this.checkGroups(tentative.groups, prepared.key);
    if (!s) {
      this.sessionCounter = tentative.id;
      this.session = tentative;
    }
    tentative.last = Math.max(tentative.last, pos);
    this.apply(tentative.groups, prepared, record);
  }

  private closeSession(meta: RecordMeta, next: Next, timeout: number): void {
    const s = this.session;
    if (!s) return;
    this.session = null;
    this.emitGroups(s.groups, this.sessionInfo(s, timeout), meta, next);
  }

  // ------------------------------------------------------------------------------------------ flush / advance

  flush(meta: RecordMeta, next: Next): void {
    const w = this.window;
    if (!w) {
      // JSONJet's flush emits the current state and keeps accumulating.
      this.emitGroups(this.groups, null, meta, next, this.spec.emit.kind === 'update');
      return;
    }
    if (w.type === 'sliding') return; // every sliding window was emitted at its record
    if (w.type === 'session') return this.closeSession(meta, next, w.timeout);
    this.closeFixed(Infinity, meta, next);
  }

  advance(timeMs: number, meta: RecordMeta, next: Next): void {
    const w = this.window;
    if (!w || this.measure !== 'arrival') return;
    if (w.type === 'session') {
      if (this.session && timeMs - this.session.last > w.timeout) this.closeSession(meta, next, w.timeout);
      return;
    }
    if (w.type === 'sliding') {
      this.watermark = this.watermark === null ? timeMs : Math.max(this.watermark, timeMs);
      const wm = this.watermark;
      this.sliding = this.sliding.filter((e) => e.pos > wm - w.size);
      return;
    }
    this.watermark = this.watermark === null ? timeMs : Math.max(this.watermark, timeMs);
    this.closeFixed(this.watermark, meta, next);
  }

  nextClose(): number | null {
    const w = this.window;
    if (!w || this.measure !== 'arrival' || w.type === 'sliding') return null; // a sliding window emits at its records
    if (w.type === 'session') return this.session ? this.session.last + w.timeout + 1 : null;
    return this.earliestEnd === Infinity ? null : this.earliestEnd;
  }

  // ------------------------------------------------------------------------------------------ snapshot

  private saveGroups(groups: Groups): JsonValue {
    const out: JsonValue[] = [];
    for (const [key, g] of groups) {
      out.push([
        key,
        g.keyValues.map(jsonOrNull),
        g.aggs.map((s, i) => this.aggregators[i].save(s)),
        jsonOrNull(lastOf(g)),
        g.emitted,
      ]);
    }
    return out;
  }

  private loadGroups(json: JsonValue): Groups {
    const groups: Groups = new Map();
    for (const row of json as JsonValue[][]) {
      const [key, keyValues, aggs, last, emitted] = row as [string, unknown[], JsonValue[], unknown, string | null];
      groups.set(key, {
        keyValues,
        aggs: aggs.map((s, i) => this.aggregators[i].load(s)),
        last,
        pending: null,
        emitted,
      });
    }
    return groups;
  }

  save(): JsonValue {
    return {
      seen: this.seen,
      watermark: this.watermark,
      groups: this.saveGroups(this.groups),
      windows: [...this.windows.values()].map((w) => [w.id, w.start, w.end, this.saveGroups(w.groups)]),
      session: this.session
        ? [this.session.id, this.session.start, this.session.last, this.saveGroups(this.session.groups)]
        : null,
      sessionCounter: this.sessionCounter,
      sliding: this.sliding.map((e) => [e.key, e.keyValues.map(jsonOrNull), e.values.map(jsonOrNull), jsonOrNull(e.record), e.pos]),
      everyCount: this.everyCount,
      lastEvery: this.lastEvery,
      lastChange: this.lastChange,
      lastGroup: this.lastGroup,
    };
  }

  load(state: JsonValue): void {
    const s = state as Record<string, JsonValue>;
    this.seen = s.seen as number;
    this.watermark = s.watermark as number | null;
    this.groups = this.loadGroups(s.groups);
    this.windows = new Map();
    this.current = undefined;
    this.earliestEnd = Infinity;
    for (const row of s.windows as JsonValue[][]) {
      const [id, start, end, groups] = row as [number, number, number, JsonValue];
      this.windows.set(id, { id, start, end, groups: this.loadGroups(groups) });
      if (end < this.earliestEnd) this.earliestEnd = end;
    }
    const ss = s.session as [number, number, number, JsonValue] | null;
    this.session = ss ? { id: ss[0], start: ss[1], last: ss[2], groups: this.loadGroups(ss[3]) } : null;
    this.sessionCounter = s.sessionCounter as number;
    this.sliding = (s.sliding as JsonValue[][]).map((row) => {
      const [key, keyValues, values, record, pos] = row as [string, unknown[], unknown[], unknown, number];
      return { key, keyValues, values, record, pos };
    });
    this.everyCount = s.everyCount as number;
    this.lastEvery = s.lastEvery as number | null;
    this.lastChange = s.lastChange as string | null;
    this.lastGroup = s.lastGroup as string | null;
  }
}
