import { fuseStateless, isStateless } from './codegen-stages.js';
import { compileExpression } from './compile.js';
import { QueryEvaluationError, QueryLimitError, QueryPlanError } from './errors.js';
import { DEFAULT_LIMITS, newEnv, type Next, type OpContext, type OpRuntime, type QueryLimits, type RecordMeta } from './operator.js';
import type { JsonValue, Operator, PipelinePlan } from './plan.js';
import { ScanRuntime } from './scan.js';
import { SummarizeRuntime } from './summarize.js';

/** What comes out of a pipeline: a record at its end, or a record an `insert_into` writes to a stream. */
export type Output = { kind: 'record'; record: JsonValue } | { kind: 'sink'; target: string; record: JsonValue };

export interface RuntimeContext {
  /** Resolves a lookup by name (undefined when there is none). Called on every evaluation, so replacing a lookup
   *  is seen by the next record. */
  lookup?: (name: string) => JsonValue | undefined;
  limits?: Partial<QueryLimits>;
  /**
   * Receives the error of one record at one operator (that record is dropped there; every other output of the
   * call is kept). Without it the error is thrown, and the outputs of that call are lost: give one to a flow.
   */
  onError?: (error: QueryEvaluationError | QueryLimitError) => void;
}

export interface PipelineRuntime {
  readonly plan: PipelinePlan;
  /** Feeds one record of the source stream, with its offset and commit time. */
  push(record: JsonValue, meta: RecordMeta): Output[];
  /** Emits every open window (and the state of emit-mode summaries), as JSONJet's `flush`. */
  flush(): Output[];
  /** Closes arrival-time windows whose end is at or before `timeMs` (a commit time, not the wall clock). */
  advance(timeMs: number): Output[];
  /** The earliest commit time at which `advance` would emit (an open arrival-time window's end), or null: when to tick. */
  nextClose(): number | null;
  /** The whole operator state as JSON; `instantiate(plan, ctx, snapshot)` restores it exactly. */
  snapshot(): JsonValue;
}

const SNAPSHOT_VERSION = 1;

const NO_OUTPUTS: Output[] = Object.freeze([]) as unknown as Output[];

/** FNV-1a over the plan's JSON: a snapshot is only restored into the plan it was taken from. */
export function planFingerprint(plan: PipelinePlan): string {
  const text = JSON.stringify(plan);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0') + ':' + text.length.toString(36);
}

class WhereRuntime implements OpRuntime {
  private readonly cond;
  private readonly env;
  constructor(op: Extract<Operator, { op: 'where' }>, ctx: OpContext) {
    this.cond = compileExpression(op.condition, { maxDepth: ctx.limits.maxDepth });
    this.env = newEnv(ctx.lookup);
  }
  push(record: unknown, meta: RecordMeta, next: Next): void {
    if (this.cond(record, this.env)) next(record, meta);
  }
  flush(): void {}
  advance(): void {}
  save(): JsonValue {
    return null;
  }
  load(): void {}
}

class SelectRuntime implements OpRuntime {
  private readonly projection;
  private readonly env;
  constructor(op: Extract<Operator, { op: 'select' }>, ctx: OpContext) {
    this.projection = compileExpression(op.projection, { maxDepth: ctx.limits.maxDepth });
    this.env = newEnv(ctx.lookup);
  }
  push(record: unknown, meta: RecordMeta, next: Next): void {
    const out = this.projection(record, this.env);
    if (out !== undefined) next(out, meta);
  }
  flush(): void {}
  advance(): void {}
  save(): JsonValue {
    return null;
  }
  load(): void {}
}

class InsertIntoRuntime implements OpRuntime {
  constructor(
    private readonly stream: string,
    private readonly ctx: OpContext,
  ) {}
  push(record: unknown, meta: RecordMeta, next: Next): void {
    this.ctx.sink(this.stream, record);
    next(record, meta);
  }
  flush(): void {}
  advance(): void {}
  save(): JsonValue {
    return null;
  }
  load(): void {}
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Compiles a plan (throws QueryPlanError or QueryLimitError for a plan that cannot run) and, given a snapshot
 * taken from the same plan, restores its state.
 */
export function instantiate(plan: PipelinePlan, context: RuntimeContext = {}, snapshot?: JsonValue): PipelineRuntime {
  return instantiateWith(plan, context, snapshot, { generated: true });
}

/**
 * instantiate, choosing how expressions are evaluated: `generated` (the default) runs each run of stateless
 * operators as one generated function and a summarize's expressions as generated code; without it every
 * expression is a tree of closures. Both give the same outputs, errors and snapshots (the unit specs compare them).
 */
export function instantiateWith(plan: PipelinePlan, context: RuntimeContext, snapshot: JsonValue | undefined, how: { generated: boolean }): PipelineRuntime {
  const limits: QueryLimits = { ...DEFAULT_LIMITS, ...context.limits };
  const lookupFn = context.lookup ?? (() => undefined);
  const onError = context.onError;
  // Most pushes produce nothing: they share one empty (frozen) answer instead of allocating their own.
  let outputs: Output[] = NO_OUTPUTS;
  const emitOutput = (output: Output) => {
    if (outputs === NO_OUTPUTS) outputs = [];
    outputs.push(output);
  };
  /** Offset and commit time of the last record pushed: number fields of one object, so a push allocates nothing. */
  const last = { offset: 0, time: 0, has: false };
  const surfaced = new WeakSet<object>();

  const makeReport = (index: number) => (e: unknown, meta: RecordMeta) => {
    if (typeof e === 'object' && e !== null && surfaced.has(e)) throw e; // already reported downstream
    const err =
      e instanceof QueryLimitError || e instanceof QueryEvaluationError
        ? e
        : new QueryEvaluationError(`${plan.operators[index].op}: ${errorMessage(e)}`, meta.offset, index, { cause: e });
    if (onError) onError(err);
    else {
      surfaced.add(err);
      throw err;
    }
  };

  const reports = plan.operators.map((_, i) => makeReport(i));
  const sink = (target: string, record: unknown) => emitOutput({ kind: 'sink', target, record: record as JsonValue });
  const ops: OpRuntime[] = plan.operators.map((op, i) => {
    const ctx: OpContext = {
      lookup: lookupFn,
      limits,
      report: reports[i],
      sink,
      generated: how.generated,
    };
    switch (op.op) {
      case 'where':
        return new WhereRuntime(op, ctx);
      case 'select':
        return new SelectRuntime(op, ctx);
      case 'scan':
        return new ScanRuntime(op, ctx);
      case 'summarize':
        return new SummarizeRuntime(op, ctx);
      case 'insert_into':
        if (!op.stream) throw new QueryPlanError('insert_into needs a stream');
        return new InsertIntoRuntime(op.stream, ctx);
      default:
        throw new QueryPlanError(`unknown operator ${(op as { op: string }).op}`);
    }
  });

  // stages[i] feeds operator i; stages[n] collects the pipeline's results.
  const stages: Next[] = new Array(ops.length + 1);
  stages[ops.length] = (record) => {
    emitOutput({ kind: 'record', record: record as JsonValue });
  };
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    const next = stages[i + 1];
    const report = reports[i];
    stages[i] = (record, meta) => {
      try {
        op.push(record, meta, next);
      } catch (e) {
        report(e, meta);
      }
    };
  }

  if (how.generated) {
    // Each run of stateless operators [from, to), with the stateful operator `to` after it, becomes one generated
    // stage; from the last run to the first, so a run's tail stage is already its final form.
    for (let to = ops.length; to >= 0; ) {
      let from = to;
      while (from > 0 && isStateless(plan.operators[from - 1])) from--;
      if (from < to || to < ops.length) {
        const tail = to < ops.length ? { op: ops[to], next: stages[to + 1] } : { collect: stages[to] };
        const env = newEnv(lookupFn);
        const fused = fuseStateless({ operators: plan.operators, from, to, env, maxDepth: limits.maxDepth, sink, reports, tail });
        if (fused) stages[from] = fused;
      }
      to = from - 1;
    }
  }

  const fingerprint = planFingerprint(plan);
  if (snapshot !== undefined) {
    const s = snapshot as { v?: number; plan?: string; ops?: JsonValue[]; last?: RecordMeta | null };
    if (s === null || typeof s !== 'object' || s.v !== SNAPSHOT_VERSION) throw new QueryPlanError('unknown snapshot version');
    if (s.plan !== fingerprint || !Array.isArray(s.ops) || s.ops.length !== ops.length) {
      throw new QueryPlanError('the snapshot was taken from another plan');
    }
    const copy = structuredClone(s.ops);
    ops.forEach((op, i) => op.load(copy[i]));
    if (s.last) {
      last.has = true;
      last.offset = s.last.offset;
      last.time = s.last.time;
    }
  }

  const take = (): Output[] => {
    const out = outputs;
    outputs = NO_OUTPUTS;
    return out;
  };

  /** Runs operator i's flush/advance, its outputs going through the operators after it, then the next one. */
  const cascade = (meta: RecordMeta, call: (op: OpRuntime, next: Next) => void): Output[] => {
    outputs = NO_OUTPUTS;
    try {
      for (let i = 0; i < ops.length; i++) {
        try {
          call(ops[i], stages[i + 1]);
        } catch (e) {
          reports[i](e, meta);
        }
      }
    } catch (e) {
      outputs = NO_OUTPUTS;
      throw e;
    }
    return take();
  };

  return {
    plan,
    push(record, meta) {
      last.has = true;
      last.offset = meta.offset;
      last.time = meta.time;
      outputs = NO_OUTPUTS;
      try {
        stages[0](record, meta);
      } catch (e) {
        outputs = NO_OUTPUTS;
        throw e;
      }
      return take();
    },
    flush() {
      const meta = last.has ? { offset: last.offset, time: last.time } : { offset: -1, time: 0 };
      return cascade(meta, (op, next) => op.flush(meta, next));
    },
    advance(timeMs) {
      const meta = { offset: last.has ? last.offset : -1, time: last.has ? Math.max(timeMs, last.time) : timeMs };
      return cascade(meta, (op, next) => op.advance(timeMs, meta, next));
    },
    nextClose() {
      let earliest: number | null = null;
      for (const op of ops) {
        const at = op.nextClose?.() ?? null;
        if (at !== null && (earliest === null || at < earliest)) earliest = at;
      }
      return earliest;
    },
    snapshot() {
      return structuredClone({ v: SNAPSHOT_VERSION, plan: fingerprint, ops: ops.map((op) => op.save()), last: last.has ? { offset: last.offset, time: last.time } : null }) as JsonValue;
    },
  };
}
