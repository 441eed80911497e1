import { Command } from '@nestjs/cqrs';
import type { Document } from '../domain/collection.events.js';

/**
 * What another writer (the SQL engine) must do to a table whose documents follow a schema (a documents
 * model): each new row's id and document (with its metadata), each updated document as stored. Throws a
 * SqlError to refuse the statement (nothing is written).
 */
export type TablePolicy = Readonly<{
  prepareInsert(doc: Document): { id: string; doc: Document };
  prepareUpdate(doc: Document): Document;
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
