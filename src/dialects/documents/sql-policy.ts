import type { Document } from '../../contexts/collections/domain/collection.events.js';
import { SqlError } from '../../contexts/collections/domain/sql-error.js';
import type { TablePolicy } from '../../contexts/collections/documents/table-policies.js';
import { newObjectId } from './documents.service.js';
import { METADATA_FIELDS, validationError, type Model } from './models.js';

/**
 * SQL writes to a model's table: validated against the model's schema, given `_id` (the row id),
 * `_owner_id` (null: SQL acts as the admin `sql`, who owns nothing), `_deleted` and timestamps.
 */
export function sqlPolicyOf(model: Model): TablePolicy {
  const refuse = (message: string): never => {
    throw new SqlError(`${model.name}: ${message}`);
  };
  return {
    prepareInsert(input: Document) {
      for (const key of Object.keys(input)) {
        if (key === '_id') refuse('_id is assigned by the server');
        if (!model.fields.has(key) && !(METADATA_FIELDS as readonly string[]).includes(key)) refuse(`unknown column ${key}`);
      }
      const doc: Document = { ...input };
      for (const field of model.fields.values()) if (field.default !== undefined && doc[field.name] === undefined) doc[field.name] = structuredClone(field.default);
      const error = validationError(model, doc);
      if (error) refuse(error);
      if (doc._deleted !== undefined && typeof doc._deleted !== 'boolean') refuse('_deleted must be boolean');
      const id = newObjectId();
      const now = new Date().toISOString();
      return { id, doc: { _id: id, ...doc, _owner_id: doc._owner_id ?? null, _deleted: doc._deleted ?? false, createdAt: doc.createdAt ?? now, updatedAt: now } };
    },
    prepareUpdate(input: Document) {
      const error = validationError(model, input);
      if (error) refuse(error);
      return { ...input, updatedAt: new Date().toISOString() };
    },
  };
}
