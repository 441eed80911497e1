import { Command } from '@nestjs/cqrs';
import type { Document } from '../domain/collection.events.js';
import type { Writer } from './document-commands.js';

/**
 * Who runs a SQL write, as a table's policy judges it: a user (of the identity context) or an admin of the
 * SQL dialect's own (userId null: it owns nothing). Its Writer part is recorded with the change.
 */
export type SqlWriter = Writer & Readonly<{ admin: boolean; groups: readonly string[] }>;

/** The writer of a SQL statement that names none: SQL with its auth off acts as an admin named `sql`. */
export const SQL_ADMIN: SqlWriter = { userId: null, name: 'sql', email: null, admin: true, groups: [] };

/**
 * What another writer (the SQL engine) must do to a table whose documents follow a schema (a documents
 * model): each new row's id and document (with its metadata), each updated document as stored, each
 * deletion allowed. `before` is the row as it was before the statement (or transaction). Throws a SqlError
 * to refuse the statement (nothing is written).
 */
export type TablePolicy = Readonly<{
  prepareInsert(doc: Document, writer: SqlWriter): { id: string; doc: Document };
  prepareUpdate(doc: Document, before: Document, writer: SqlWriter): Document;
  checkDelete(before: Document, writer: SqlWriter): void;
}>;

/** The tables that have a policy, by name. */
export class TablePolicies {
  private readonly byTable = new Map<string, TablePolicy>();

  set(table: string, policy: TablePolicy): void {
    this.byTable.set(table, policy);
  }

  get(table: string): TablePolicy | undefined {
    return this.byTable.get(table);
  }
}

/** Makes every later SQL write to `table` go through `policy`. */
export class SetTablePolicyCommand extends Command<void> {
  constructor(
    readonly table: string,
    readonly policy: TablePolicy,
  ) {
    super();
  }
}
