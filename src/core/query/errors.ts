/** The query engine's own errors: a caller tells them apart by class. */

/** A plan that cannot be compiled (unknown function, aggregate outside summarize, bad window size…). */
export class QueryPlanError extends Error {
  override readonly name: string = 'QueryPlanError';
}

/**
 * Evaluating one record failed (a window value that is not a number, spreading a string…). The record is
 * dropped at the operator that failed; the runtime stays usable, so a caller logs it and goes on.
 */
export class QueryEvaluationError extends Error {
  override readonly name: string = 'QueryEvaluationError';
  constructor(
    message: string,
    /** Offset of the input record being processed (or the last one seen, for flush/advance). */
    readonly offset: number,
    /** Index of the operator in the plan. */
    readonly operatorIndex: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type QueryLimit = 'maxGroups' | 'maxWindowItems' | 'maxOpenWindows' | 'maxDepth' | 'maxDistinct';

/** A bound was reached (groups, window contents, open windows, nesting). Nothing was changed by the failing step. */
export class QueryLimitError extends Error {
  override readonly name: string = 'QueryLimitError';
  constructor(
    message: string,
    readonly limit: QueryLimit,
    readonly max: number,
  ) {
    super(message);
  }
}

/** Thrown inside compiled closures; the runtime wraps it into a QueryEvaluationError with the record's offset. */
export class EvalFailure extends Error {
  override readonly name: string = 'EvalFailure';
}
