import type { Event } from '../../../core/event-store/event.js';

/**
 * One stream per table: `collection-<table>`. Every committed statement (or socket transaction) appends
 * at most one event of each kind per table it changed, carrying whole documents, so the read model (and
 * its history) is a fold of these streams. A table's stream position is its version: transactions assert
 * the versions of every table they touched (serializable at table granularity).
 */
export const COLLECTION_STREAM_PREFIX = 'collection-';

export const collectionStreamId = (table: string): string => `${COLLECTION_STREAM_PREFIX}${table}`;
export const tableOfStream = (streamId: string): string => streamId.slice(COLLECTION_STREAM_PREFIX.length);

export type Document = Record<string, unknown>;
export type RowDocument = Readonly<{ id: string; doc: Document }>;

export type RowsInserted = Event<'RowsInserted', { table: string; rows: RowDocument[] }>;
/** The rows' new documents, whole (an UPDATE, PATCH, UNSET or ON CONFLICT DO UPDATE). */
export type RowsUpdated = Event<'RowsUpdated', { table: string; rows: RowDocument[] }>;
/** The rows leave the present; their versions stay in history (time travel still finds them). */
export type RowsDeleted = Event<'RowsDeleted', { table: string; ids: string[] }>;
/** The rows leave history too: every version of them is gone from the read model. */
export type RowsErased = Event<'RowsErased', { table: string; ids: string[] }>;

export type CollectionEvent = RowsInserted | RowsUpdated | RowsDeleted | RowsErased;
export const COLLECTION_EVENT_TYPES: readonly CollectionEvent['type'][] = ['RowsInserted', 'RowsUpdated', 'RowsDeleted', 'RowsErased'];
