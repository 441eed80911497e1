import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChangeDocumentsCommand, FindDocumentsQuery, GetDocumentsQuery, WatchDocumentsQuery } from './document-commands.js';
import { DocumentStore } from './document-store.js';
import { SetTablePolicyCommand, TablePolicies } from './table-policies.js';

@CommandHandler(ChangeDocumentsCommand)
export class ChangeDocumentsHandler implements ICommandHandler<ChangeDocumentsCommand> {
  constructor(@Inject(DocumentStore) private readonly documents: DocumentStore) {}
  execute(command: ChangeDocumentsCommand) {
    return this.documents.change(command.table, command.ids, command.decide, command.writer);
  }
}

@QueryHandler(FindDocumentsQuery)
export class FindDocumentsHandler implements IQueryHandler<FindDocumentsQuery> {
  constructor(@Inject(DocumentStore) private readonly documents: DocumentStore) {}
  execute(query: FindDocumentsQuery) {
    return this.documents.find(query.table, query.selection, query.options);
  }
}

@QueryHandler(GetDocumentsQuery)
export class GetDocumentsHandler implements IQueryHandler<GetDocumentsQuery> {
  constructor(@Inject(DocumentStore) private readonly documents: DocumentStore) {}
  execute(query: GetDocumentsQuery) {
    return this.documents.get(query.table, query.ids);
  }
}

@QueryHandler(WatchDocumentsQuery)
export class WatchDocumentsHandler implements IQueryHandler<WatchDocumentsQuery> {
  constructor(@Inject(DocumentStore) private readonly documents: DocumentStore) {}
  execute(query: WatchDocumentsQuery) {
    return this.documents.watch(query.table, query.after, query.deliver, query.overflow);
  }
}

@CommandHandler(SetTablePolicyCommand)
export class SetTablePolicyHandler implements ICommandHandler<SetTablePolicyCommand> {
  constructor(@Inject(TablePolicies) private readonly policies: TablePolicies) {}
  async execute(command: SetTablePolicyCommand) {
    this.policies.set(command.table, command.policy);
  }
}

export const DOCUMENT_HANDLERS = [SetTablePolicyHandler, ChangeDocumentsHandler, FindDocumentsHandler, GetDocumentsHandler, WatchDocumentsHandler];
