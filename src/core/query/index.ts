/**
 * The dialect-independent query engine: a plan (plan.ts) compiled and run over a record flow. Each run of
 * where/select/insert_into is one generated function (codegen*.ts), fused with the push of a tumbling summarize
 * after it (summarize-step.ts); a summarize's expressions are generated too; scans, and whatever the generator
 * does not take, run as closures (compile.ts). Both forms give the same results (codegen.unit.spec.ts).
 *
 *   const rt = instantiate(plan, { lookup, limits, onError });     // or instantiate(plan, ctx, snapshot)
 *   rt.push(record, { offset, time })  → Output[]   // time = the record's commit time (ms), never the wall clock
 *   rt.advance(commitTimeMs)            → Output[]   // closes arrival-time windows whose end has passed
 *   rt.flush()                          → Output[]   // emits every open window / the state of emit-mode summaries
 *   rt.snapshot()                       → JSON       // restore with instantiate(plan, ctx, snapshot)
 *
 * The same inputs (pushes, advances, flushes) give the same outputs, also across a snapshot/restore.
 */
export type {
  AggregateFn,
  BinaryOp,
  EmitSpec,
  Expression,
  GroupKey,
  InsertIntoOp,
  JsonObject,
  JsonValue,
  ObjectEntry,
  Operator,
  PipelinePlan,
  ScanOp,
  ScanStatement,
  ScanStep,
  SelectOp,
  SummarizeOp,
  UnaryOp,
  WhereOp,
  WindowMeasure,
  WindowSpec,
} from './plan.js';
export { AGGREGATE_FNS, sinksOf } from './plan.js';
export { QueryEvaluationError, QueryLimitError, QueryPlanError, type QueryLimit } from './errors.js';
export { DEFAULT_LIMITS, type QueryLimits, type RecordMeta } from './operator.js';
export { FUNCTIONS } from './functions.js';
export { instantiate, planFingerprint, type Output, type PipelineRuntime, type RuntimeContext } from './runtime.js';
