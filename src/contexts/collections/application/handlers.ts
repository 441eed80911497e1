import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { CloseSqlSessionCommand, ExecuteSqlCommand, RunSqlQuery } from './commands.js';
import { SqlEngine, type SqlResult } from './sql-engine.js';

@CommandHandler(ExecuteSqlCommand)
export class ExecuteSqlHandler implements ICommandHandler<ExecuteSqlCommand> {
  constructor(@Inject(SqlEngine) private readonly engine: SqlEngine) {}

  execute({ statement, params, session, writer }: ExecuteSqlCommand): Promise<SqlResult> {
    return this.engine.execute(statement, params, session, writer);
  }
}

@QueryHandler(RunSqlQuery)
export class RunSqlQueryHandler implements IQueryHandler<RunSqlQuery> {
  constructor(@Inject(SqlEngine) private readonly engine: SqlEngine) {}

  execute({ query, params, session }: RunSqlQuery): Promise<SqlResult> {
    return this.engine.query(query, params, session);
  }
}

@CommandHandler(CloseSqlSessionCommand)
export class CloseSqlSessionHandler implements ICommandHandler<CloseSqlSessionCommand> {
  constructor(@Inject(SqlEngine) private readonly engine: SqlEngine) {}

  async execute({ session }: CloseSqlSessionCommand): Promise<void> {
    this.engine.closeSession(session);
  }
}
