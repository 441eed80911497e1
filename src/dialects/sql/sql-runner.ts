import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ExecuteSqlCommand, RunSqlQuery } from '../../contexts/collections/application/commands.js';
import type { SqlResult } from '../../contexts/collections/application/sql-engine.js';
import type { SqlWriter } from '../../contexts/collections/documents/table-policies.js';
import { isQuery, type Statement } from '../../contexts/collections/query/ast.js';
import type { UserParams } from '../../contexts/collections/query/compiler.js';
import { SqlSyntaxError } from './sql-lexer.js';
import { parseSql } from './sql-parser.js';
import { SQL_DIALECT_SETTINGS, type SqlDialectSettings } from './sql-settings.js';

/** A request the dialect refuses before any SQL runs (too large, badly shaped parameters). */
export class SqlRequestError extends Error {
  override readonly name = 'SqlRequestError';
}

export type SqlRequest = Readonly<{ q: string; p: unknown; m: boolean }>;

const isCollection = (v: unknown): v is unknown[] | Record<string, unknown> => typeof v === 'object' && v !== null;

/** Parameters of one run: an array is positional (`?`), an object named (`:name`). */
function toParams(p: unknown[] | Record<string, unknown>): UserParams {
  return Array.isArray(p) ? { positional: p } : { named: p };
}

/**
 * q/p/m → a statement on the buses: queries on the QueryBus, everything else on the CommandBus; `session`
 * names the socket, whose transaction the context keeps. Parse errors are SqlSyntaxErrors; the context's
 * refusals come through as they are.
 */
@Injectable()
export class SqlRunner {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(SQL_DIALECT_SETTINGS) private readonly settings: SqlDialectSettings,
  ) {}

  parse(q: string): Statement {
    if (Buffer.byteLength(q) > this.settings.maxStatementBytes) throw new SqlRequestError(`Statement too large: at most ${this.settings.maxStatementBytes} bytes`);
    return parseSql(q);
  }

  /** The parameter sets of a request: one, or (m) each element of p. */
  paramSets(p: unknown, m: boolean): UserParams[] {
    if (!isCollection(p)) throw new SqlRequestError('Invalid parameters');
    if (m) {
      if (!Array.isArray(p)) throw new SqlRequestError('Many parameters must be an array');
      if (p.length > this.settings.maxParameters) throw new SqlRequestError(`Too many parameters: at most ${this.settings.maxParameters}`);
      return p.map((set) => {
        if (!isCollection(set)) throw new SqlRequestError('Many parameters must be an array of arrays or objects');
        return toParams(set);
      });
    }
    if ((Array.isArray(p) ? p.length : Object.keys(p).length) > this.settings.maxParameters) throw new SqlRequestError(`Too many parameters: at most ${this.settings.maxParameters}`);
    return [toParams(p)];
  }

  /** `writer`: who a write is checked against and named by on a model's table (default: the `sql` admin). */
  async run(statement: Statement, sets: UserParams[], many: boolean, session?: string, writer?: SqlWriter): Promise<SqlResult> {
    if (isQuery(statement) && !many) return this.queries.execute(new RunSqlQuery(statement, sets[0], session));
    return this.commands.execute(new ExecuteSqlCommand(statement, sets, session, writer));
  }
}

export { SqlSyntaxError };
