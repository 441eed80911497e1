import { Command, Query as CqrsQuery } from '@nestjs/cqrs';
import type { Query, Statement } from '../query/ast.js';
import type { UserParams } from '../query/compiler.js';
import type { SqlWriter } from '../documents/table-policies.js';
import type { SqlResult } from './sql-engine.js';

/**
 * Any statement of the collections' query language. `params` holds one parameter set, or one per run for
 * a bulk statement (applied atomically). `session` names a connection that may hold a transaction
 * (BEGIN … COMMIT); without one, explicit transactions are refused. `writer` is who runs it (their
 * rights are checked on tables with a policy; the change names them); without one, the admin `sql`.
 */
export class ExecuteSqlCommand extends Command<SqlResult> {
  constructor(
    readonly statement: Statement,
    readonly params: readonly UserParams[],
    readonly session?: string,
    readonly writer?: SqlWriter,
  ) {
    super();
  }
}

/** A query (SELECT, VALUES, UNION…), inside the session's transaction if it has one. */
export class RunSqlQuery extends CqrsQuery<SqlResult> {
  constructor(
    readonly query: Query,
    readonly params: UserParams,
    readonly session?: string,
  ) {
    super();
  }
}

/** The connection is gone: its open transaction, if any, is rolled back. */
export class CloseSqlSessionCommand extends Command<void> {
  constructor(readonly session: string) {
    super();
  }
}
