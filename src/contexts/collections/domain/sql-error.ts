import { ConflictError, DomainError } from '../../../core/errors/domain-errors.js';
import type { Span } from '../query/ast.js';

/**
 * A statement the collections refuse (unknown table or column, a runtime error of an expression, a
 * transaction used wrongly). `label` is the short name of the problem and `pos` the span of the statement
 * it is about, when there is one; the message is complete without them.
 */
export class SqlError extends DomainError {
  override readonly name = 'SqlError';
  constructor(
    message: string,
    readonly pos?: Span,
    readonly label?: string,
  ) {
    super(message, 'sql_error');
  }
}

/** A transaction's commit lost to another commit since its BEGIN (or an auto-commit statement exhausted its retries). */
export class SqlConflictError extends ConflictError {
  override readonly name = 'SqlConflictError';
  constructor() {
    super('Conflict');
  }
}
