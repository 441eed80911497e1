import { compileExpression, safeSet, type Compiled, type Env } from './compile.js';
import { QueryPlanError } from './errors.js';
import { newEnv, type Next, type OpContext, type OpRuntime, type RecordMeta } from './operator.js';
import type { JsonValue, ScanOp } from './plan.js';
import { isPlainObject } from './values.js';

/**
 * scan: JSONJet's step matcher (operators/scan.js). Every match has its own state variables (`matchId` is set
 * when it starts). For each record, steps are tried from the last to the first:
 *  - a match waiting at step i-1 moves to step i when step i's condition holds (and replaces a match at step i);
 *  - otherwise a match at step i (or a new one, for step 0) runs step i again when its condition holds.
 * A step's statements run in order on a copy of the state, committed (and its emits sent) only if all succeed.
 * Inside a scan an identifier reads the match's state variable of that name when set, else the record's field.
 */

type Statement = { kind: 'assign'; target: string[]; value: Compiled } | { kind: 'emit'; value: Compiled };
interface Step {
  condition: Compiled;
  statements: Statement[];
}
type Vars = Record<string, unknown>;

function setPath(vars: Vars, path: string[], value: unknown): void {
  // Copy-on-write along the path: state objects may be shared with records already emitted.
  let target = vars;
  for (let i = 0; i < path.length - 1; i++) {
    const cur = target[path[i]];
    const copy: Vars = isPlainObject(cur) ? { ...cur } : {};
    safeSet(target, path[i], copy);
    target = copy;
  }
  safeSet(target, path[path.length - 1], value);
}

export class ScanRuntime implements OpRuntime {
  private readonly steps: Step[];
  private readonly env: Env;
  private active: Array<Vars | null>;
  private nextMatchId = 0;

  constructor(
    spec: ScanOp,
    private readonly ctx: OpContext,
  ) {
    if (spec.steps.length === 0) throw new QueryPlanError('scan needs at least one step');
    const opts = { scope: 'scan' as const, maxDepth: ctx.limits.maxDepth };
    this.steps = spec.steps.map((s) => ({
      condition: compileExpression(s.condition, opts),
      statements: s.statements.map((st): Statement => {
        if (st.kind === 'assign') {
          if (st.target.length === 0) throw new QueryPlanError('empty assignment target');
          return { kind: 'assign', target: st.target, value: compileExpression(st.value, opts) };
        }
        return { kind: 'emit', value: compileExpression(st.value, opts) };
      }),
    }));
    this.env = newEnv(ctx.lookup);
    this.active = this.steps.map(() => null);
  }

  private holds(step: Step, record: unknown, state: Vars | null): boolean {
    this.env.state = state;
    return !!step.condition(record, this.env);
  }

  /** Runs a step's statements; returns the new state and the values to emit. Throws before committing. */
  private run(step: Step, record: unknown, state: Vars): [Vars, unknown[]] {
    const vars: Vars = { ...state };
    const emits: unknown[] = [];
    this.env.state = vars;
    for (const st of step.statements) {
      const v = st.value(record, this.env);
      if (st.kind === 'emit') {
        if (v !== undefined) emits.push(v);
      } else setPath(vars, st.target, v);
    }
    return [vars, emits];
  }

  push(record: unknown, meta: RecordMeta, next: Next): void {
    const steps = this.steps;
    const active = this.active;
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i];
      const prev = i > 0 ? active[i - 1] : null;
      if (prev !== null && this.holds(step, record, prev)) {
        const [vars, emits] = this.run(step, record, prev);
        active[i] = vars;
        active[i - 1] = null;
        for (const e of emits) next(e, meta);
        continue;
      }
      const cur = active[i];
      if (cur !== null || i === 0) {
        if (this.holds(step, record, cur)) {
          const start = cur ?? { matchId: this.nextMatchId };
          const [vars, emits] = this.run(step, record, start);
          if (cur === null) this.nextMatchId++;
          active[i] = vars;
          for (const e of emits) next(e, meta);
        }
      }
    }
    this.env.state = null;
  }

  flush(): void {}
  advance(): void {}

  save(): JsonValue {
    return { nextMatchId: this.nextMatchId, active: this.active as JsonValue[] };
  }

  load(state: JsonValue): void {
    const s = state as { nextMatchId: number; active: Array<Vars | null> };
    if (!Array.isArray(s.active) || s.active.length !== this.steps.length) throw new QueryPlanError('scan snapshot does not match its steps');
    this.nextMatchId = s.nextMatchId;
    this.active = s.active;
  }
}
