import { Command, Query } from '@nestjs/cqrs';
import type { Document } from '../domain/collection.events.js';

/**
 * The documents side of the collections context: a collection (table) read and written as documents with
 * an id, a version (the row's count of changes) and a writer recorded with every change. Documents are rows
 * of `collection-<table>`, so the SQL dialect sees the same data and history.
 */

/** One condition on a top-level field; values arrive already cast to the field's type. */
export type DocCondition =
  | Readonly<{ field: string; op: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte'; value: unknown }>
  | Readonly<{ field: string; op: 'in' | 'nin'; value: readonly unknown[] }>
  | Readonly<{ field: string; op: 'regex'; pattern: string; flags: string }>
  | Readonly<{ field: string; op: 'exists'; value: boolean }>;

export type DocSelection = Readonly<{
  /** Every condition must hold. */
  conditions: readonly DocCondition[];
  /** Soft-deleted documents (`_deleted: true`) too. */
  includeDeleted?: boolean;
  /** Only documents whose `_owner_id` is this. */
  ownerId?: string;
  /** A case-insensitive substring of any of these fields. */
  search?: Readonly<{ text: string; fields: readonly string[] }>;
}>;

export type DocSort = readonly Readonly<{ field: string; direction: 1 | -1 }>[];

/** A document of the present, with its id and version. */
export type StoredDocument = Readonly<{ id: string; doc: Document; version: number }>;

/** Who made a change (recorded in the event's metadata; pushes name them). */
export type Writer = Readonly<{ userId: string | null; name: string | null; email: string | null }>;

export type DocumentChange =
  | Readonly<{ kind: 'insert'; id: string; doc: Document }>
  | Readonly<{ kind: 'update'; id: string; doc: Document }>
  /** Leaves the present (the SQL DELETE); history keeps it. */
  | Readonly<{ kind: 'delete'; id: string }>;

/**
 * Decides a write from the present state of the named documents (missing ids are absent from the map).
 * Runs again if another writer changed the collection meanwhile; may throw to refuse (nothing is written).
 */
export type ChangeDecider<R> = (current: ReadonlyMap<string, StoredDocument>) => { changes: DocumentChange[]; result: R } | Promise<{ changes: DocumentChange[]; result: R }>;

export type ChangeOutcome<R> = Readonly<{ result: R; versions: ReadonlyMap<string, number>; position: number | null }>;

/** A write to one collection, all of its changes or none, asserted against the collection's version. */
export class ChangeDocumentsCommand<R = unknown> extends Command<ChangeOutcome<R>> {
  constructor(
    readonly table: string,
    readonly ids: readonly string[],
    readonly decide: ChangeDecider<R>,
    readonly writer: Writer,
  ) {
    super();
  }
}

export type FoundDocuments = Readonly<{ documents: StoredDocument[]; count?: number }>;

export class FindDocumentsQuery extends Query<FoundDocuments> {
  constructor(
    readonly table: string,
    readonly selection: DocSelection,
    readonly options: Readonly<{ sort?: DocSort; limit?: number; skip?: number; count?: boolean; countOnly?: boolean }> = {},
  ) {
    super();
  }
}

/** The present documents with these ids (soft-deleted ones included). */
export class GetDocumentsQuery extends Query<Map<string, StoredDocument>> {
  constructor(
    readonly table: string,
    readonly ids: readonly string[],
  ) {
    super();
  }
}

/** One row's change as a watcher sees it: the document before (null: it did not exist) and after (null: gone). */
export type WatchedChange = Readonly<{
  id: string;
  before: Document | null;
  after: Document | null;
  /** Whoever wrote it through the documents dialect; null for other writers (SQL). */
  writer: Writer | null;
  position: number;
}>;

export type DocumentWatch = { close(): void; readonly position: number };

/**
 * Every change to a collection after `after` (null: from now), read from the log then live, in order, with
 * no gap or duplicate. `deliver` is called in order; `overflow` when more than the bound waited unhandled
 * (the watch is closed then).
 */
export class WatchDocumentsQuery extends Query<DocumentWatch> {
  constructor(
    readonly table: string,
    readonly after: number | null,
    readonly deliver: (change: WatchedChange) => void | Promise<void>,
    readonly overflow: () => void,
  ) {
    super();
  }
}
