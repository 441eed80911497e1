import { ClosedError, DomainError, OverloadedError, UnavailableError } from '../../core/errors/domain-errors.js';
import { QueryEvaluationError, QueryLimitError, QueryPlanError } from '../../core/query/index.js';
import { JetParseError } from './parser/index.js';

/** A failed statement as JSONJet answers it: `{code, message}` (and where, for a parse error). */
export type JetError = { code: string; message: string; line?: number; column?: number; position?: number };

export class JetStatementError extends Error {
  constructor(
    readonly error: JetError,
    /** The HTTP status of the answer: 400 for the client's mistake, 503 when the server cannot take it now. */
    readonly status = 400,
  ) {
    super(error.message);
  }
}

export function toJetError(error: unknown): JetStatementError {
  if (error instanceof JetStatementError) return error;
  if (error instanceof JetParseError) {
    return new JetStatementError({ code: 'PARSE_ERROR', message: error.message, line: error.line, column: error.column, position: error.position });
  }
  if (error instanceof DomainError) return new JetStatementError({ code: error.code, message: error.message });
  if (error instanceof QueryPlanError || error instanceof QueryLimitError || error instanceof QueryEvaluationError) {
    return new JetStatementError({ code: 'QUERY_FAILED', message: error.message });
  }
  if (error instanceof OverloadedError) return new JetStatementError({ code: 'OVERLOADED', message: `${error.message}; nothing was applied, retry later` }, 503);
  if (error instanceof ClosedError) return new JetStatementError({ code: 'SHUTTING_DOWN', message: 'the server is shutting down; nothing was applied' }, 503);
  if (error instanceof UnavailableError) return new JetStatementError({ code: 'UNAVAILABLE', message: error.message }, 503);
  return new JetStatementError({ code: 'COMMAND_FAILED', message: 'the statement failed on the server' }, 500);
}
