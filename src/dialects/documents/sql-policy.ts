import type { Document } from '../../contexts/collections/domain/collection.events.js';
import { SqlError } from '../../contexts/collections/domain/sql-error.js';
import type { SqlWriter, TablePolicy } from '../../contexts/collections/documents/table-policies.js';
import { newObjectId } from './documents.service.js';
import { METADATA_FIELDS, validationError, type Model, type Verb } from './models.js';
import { grantCovers, grantOf, refusal, type Grant } from './perms.js';

/**
 * The writer's grant for a verb: an identity user's in JXP's order. The SQL dialect's own admins (no user:
 * `sql` with SQL auth off, or the SQL_USERNAME pair) may write anything, as whoever holds SQL without
 * auth could anyway; a writer without a user owns nothing, so an owner grant would give it nothing.
 */
function grantOfWriter(model: Model, writer: SqlWriter, verb: Verb): Grant {
  if (writer.userId === null && writer.admin) return { kind: 'all' };
  const identity = { userId: writer.userId ?? '', email: writer.email ?? '', name: writer.name ?? '', admin: writer.admin, groups: writer.groups };
  const grant = grantOf(model.perms, identity, verb);
  return grant.kind === 'owner' && writer.userId === null ? { kind: 'denied', message: `Authorization failed - ${verb}` } : grant;
}

/**
 * SQL writes to a model's table: checked against the writer's rights (INSERT needs `c`, UPDATE `u`, DELETE
 * `d`; owner rights cover the rows whose `_owner_id` is the writer), validated against the model's schema,
 * and given `_id` (the row id), `_owner_id` (the writer's user; null for the SQL dialect's admins),
 * `_deleted` and timestamps. A refusal is a SqlError: the whole statement is refused.
 */
export function sqlPolicyOf(model: Model): TablePolicy {
  const refuse = (message: string): never => {
    throw new SqlError(`${model.name}: ${message}`);
  };
  const allow = (writer: SqlWriter, verb: Verb, doc: Document) => {
    const grant = grantOfWriter(model, writer, verb);
    if (!grantCovers(grant, doc)) refuse(refusal(grant, verb));
  };
  return {
    prepareInsert(input, writer) {
      for (const key of Object.keys(input)) {
        if (key === '_id') refuse('_id is assigned by the server');
        if (!model.fields.has(key) && !(METADATA_FIELDS as readonly string[]).includes(key)) refuse(`unknown column ${key}`);
      }
      if (input._owner_id !== undefined && !writer.admin && input._owner_id !== writer.userId) refuse('_owner_id must be the writer’s own user id');
      const doc: Document = { ...input };
      for (const field of model.fields.values()) if (field.default !== undefined && doc[field.name] === undefined) doc[field.name] = structuredClone(field.default);
      const error = validationError(model, doc);
      if (error) refuse(error);
      if (doc._deleted !== undefined && typeof doc._deleted !== 'boolean') refuse('_deleted must be boolean');
      const id = newObjectId();
      const now = new Date().toISOString();
      const prepared = { _id: id, ...doc, _owner_id: doc._owner_id ?? writer.userId, _deleted: doc._deleted ?? false, createdAt: doc.createdAt ?? now, updatedAt: now };
      allow(writer, 'c', prepared);
      return { id, doc: prepared };
    },
    prepareUpdate(input, before, writer) {
      allow(writer, 'u', before);
      if (input._id !== before._id) refuse('_id cannot be changed');
      if (!writer.admin && input._owner_id !== before._owner_id) refuse('_owner_id can only be changed by an admin');
      const error = validationError(model, input);
      if (error) refuse(error);
      return { ...input, updatedAt: new Date().toISOString() };
    },
    checkDelete(before, writer) {
      allow(writer, 'd', before);
    },
  };
}
