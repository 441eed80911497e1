/**
 * The query plan: a typed tree of operators and expressions, free of any dialect's syntax.
 *
 * A dialect (JET, the live-query SQL) parses its text onto these types; `instantiate` (runtime.ts) compiles a plan
 * to closures and runs it over a record flow. A plan is plain JSON (no functions, no classes), so it can be stored
 * beside a flow and compiled again after a restart.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

// ------------------------------------------------------------------------------------------------ expressions

export type BinaryOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | '&&' | '||' | '+' | '-' | '*' | '/' | '%';
export type UnaryOp = 'not' | 'neg' | 'plus';

/** Aggregate functions; valid only inside a summarize's `aggregates` object. */
export type AggregateFn = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last' | 'count_if' | 'count_distinct';
export const AGGREGATE_FNS: readonly AggregateFn[] = [
  'count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'count_if', 'count_distinct',
];

export type Expression =
  | { kind: 'literal'; value: JsonValue }
  /**
   * A field of the current record, `a.b.c` → path ['a','b','c'] (missing steps give undefined, never an error).
   * Inside a scan step the root name resolves to the match's state variable of that name when it is set.
   */
  | { kind: 'field'; path: string[] }
  /** A variable bound by the operator: the window variable of a summarize (`w` in `over w = …`). */
  | { kind: 'var'; name: string }
  /** A named lookup, resolved through the runtime context's `lookup(name)` on every evaluation. */
  | { kind: 'lookup'; name: string }
  /** Member access on any expression: `expr.key`. */
  | { kind: 'get'; object: Expression; key: string }
  /** Index access: `expr[index]` (array index, or object key when the index is a string). */
  | { kind: 'index'; object: Expression; index: Expression }
  | { kind: 'binary'; op: BinaryOp; left: Expression; right: Expression }
  | { kind: 'unary'; op: UnaryOp; operand: Expression }
  | { kind: 'conditional'; test: Expression; then: Expression; else: Expression }
  /** A scalar function (functions.ts lists them); `iff` is evaluated lazily. */
  | { kind: 'call'; name: string; args: Expression[] }
  /** An aggregate over the records of a group (summarize only). `count()` has no argument. */
  | { kind: 'aggregate'; fn: AggregateFn; args: Expression[] }
  | { kind: 'object'; entries: ObjectEntry[] }
  | { kind: 'array'; items: Expression[] };

/**
 * Entries of an object literal. Evaluated as JSONJet does: every spread first (in written order), then the
 * properties (so an explicit property wins over a spread one), then the exclusions. Undefined values are left out.
 */
export type ObjectEntry =
  | { kind: 'property'; key: string; value: Expression }
  /** `...*`: every field of the current record. */
  | { kind: 'spreadRecord' }
  /** `...expr`: every field of an object value (null/undefined spread nothing; other values are an error). */
  | { kind: 'spread'; value: Expression }
  /** `-field`: leave this key out. */
  | { kind: 'exclude'; key: string };

// ------------------------------------------------------------------------------------------------ operators

export interface WhereOp {
  op: 'where';
  condition: Expression;
}

/** Projection: the record becomes the value of `projection` (an object expression). */
export interface SelectOp {
  op: 'select';
  projection: Expression;
}

export type ScanStatement =
  /** `a = e` sets the match's state variable `a`; `a.b = e` sets a nested key (objects are created on the way). */
  | { kind: 'assign'; target: string[]; value: Expression }
  /** `emit(e)`: send the value downstream. */
  | { kind: 'emit'; value: Expression };

export interface ScanStep {
  name: string;
  condition: Expression;
  statements: ScanStatement[];
}

/**
 * A sequence matcher (JSONJet's scan): step 0 may start a match; a match sitting at step i-1 moves to step i when
 * step i's condition holds, else a match at step i stays and runs step i again when its condition holds. Steps
 * are tried from the last to the first for every record, so one record advances a match by one step at most.
 */
export interface ScanOp {
  op: 'scan';
  steps: ScanStep[];
}

/**
 * How a window measures position:
 *  - 'count': the record's index in the flow (0, 1, 2…);
 *  - 'arrival': the record's commit time in ms (`meta.time`), windows also close on `advance(timeMs)`;
 *  - 'value': a numeric expression over the record (a time field, a sequence number…).
 */
export type WindowMeasure = { by: 'count' } | { by: 'arrival' } | { by: 'value'; value: Expression };

export type WindowSpec =
  | { type: 'tumbling'; size: number; measure: WindowMeasure }
  | { type: 'hopping'; size: number; hop: number; measure: WindowMeasure }
  /** Ends at every record: the last `size` records (count) or the records within `size` of it (arrival/value). */
  | { type: 'sliding'; size: number; measure: WindowMeasure }
  /** JSONJet's count_window(n): a tumbling count window. */
  | { type: 'count'; size: number }
  /** A new session starts when the gap to the previous record exceeds `timeout`. */
  | { type: 'session'; timeout: number; measure: WindowMeasure };

export type EmitSpec =
  /** Default with a window: a window's groups are emitted when the window closes. */
  | { kind: 'close' }
  /** Every `interval` records, or every `interval` units of `using` (first record always emits). */
  | { kind: 'every'; interval: number; using?: Expression | 'arrival' }
  | { kind: 'when'; condition: Expression }
  | { kind: 'change'; value: Expression }
  | { kind: 'groupChange' }
  /** When the updated group's result differs from what was last emitted for it. */
  | { kind: 'update' }
  /** Without window and emit clause: accumulate, emit on flush only. */
  | { kind: 'flush' };

export interface GroupKey {
  expr: Expression;
  /** When set, the key's value is added to an output record that lacks a field of this name. */
  name?: string;
}

export interface SummarizeOp {
  op: 'summarize';
  /** An object expression whose values may hold `aggregate` nodes; other parts read the group's last record. */
  aggregates: Expression;
  by: GroupKey[];
  window?: WindowSpec;
  /** Name under which the window's description is visible to `aggregates` and `by` (JSONJet: 'window'). */
  windowVar?: string;
  emit: EmitSpec;
}

/** A sink: the record is written to `stream` (an output of kind 'sink') and also passed downstream. */
export interface InsertIntoOp {
  op: 'insert_into';
  stream: string;
}

export type Operator = WhereOp | SelectOp | ScanOp | SummarizeOp | InsertIntoOp;

export interface PipelinePlan {
  source: string;
  operators: Operator[];
}

/** Every stream a plan writes to, in order of first appearance. */
export function sinksOf(plan: PipelinePlan): string[] {
  const out: string[] = [];
  for (const op of plan.operators) if (op.op === 'insert_into' && !out.includes(op.stream)) out.push(op.stream);
  return out;
}
