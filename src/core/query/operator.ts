import type { JsGen } from './codegen.js';
import type { StepRecord } from './summarize-step.js';
import type { Env } from './compile.js';
import type { JsonValue } from './plan.js';

/** Where a record sits in its stream: its offset and its commit time (ms), never the wall clock. */
export interface RecordMeta {
  offset: number;
  time: number;
}

export interface QueryLimits {
  /** Groups held by one summarize (per open window). */
  maxGroups: number;
  /** Records a sliding window keeps. */
  maxWindowItems: number;
  /** Windows open at once (hopping size/hop). */
  maxOpenWindows: number;
  /** Nesting of expressions in a plan. */
  maxDepth: number;
  /** Values one count_distinct keeps. */
  maxDistinct: number;
}

export const DEFAULT_LIMITS: QueryLimits = {
  maxGroups: 10_000,
  maxWindowItems: 100_000,
  maxOpenWindows: 1_000,
  maxDepth: 256,
  maxDistinct: 100_000,
};

export type Next = (record: unknown, meta: RecordMeta) => void;

export interface OpContext {
  lookup: (name: string) => unknown;
  limits: QueryLimits;
  /** Reports an error of this operator on one record (the record is dropped here); throws without onError. */
  report: (error: unknown, meta: RecordMeta) => void;
  /** Outputs of kind 'sink'. */
  sink: (stream: string, record: unknown) => void;
  /** Evaluate through generated code (codegen.ts) rather than the closures of compile.ts: same results. */
  generated: boolean;
}

/** One operator of a running pipeline; `save`/`load` carry its state through a snapshot. */
export interface OpRuntime {
  push(record: unknown, meta: RecordMeta, next: Next): void;
  flush(meta: RecordMeta, next: Next): void;
  advance(timeMs: number, meta: RecordMeta, next: Next): void;
  /** The earliest time at which `advance` would close an open window (arrival-time windows only), or null. */
  nextClose?(): number | null;
  save(): JsonValue;
  load(state: JsonValue): void;
  /**
   * The source of `push` for `record` (with `meta` in scope, feeding `next`), to be run inside a generated stage
   * (codegen-stages.ts); null when this operator has none.
   */
  generatedStep?(gen: JsGen, record: StepRecord, next: Next): string | null;
}

export function newEnv(lookup: (name: string) => unknown): Env {
  return { lookup, vars: null, state: null, aggs: null };
}
