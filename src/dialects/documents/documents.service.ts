import { randomBytes } from 'node:crypto';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ChangeDocumentsCommand,
  FindDocumentsQuery,
  GetDocumentsQuery,
  type ChangeOutcome,
  type DocCondition,
  type DocumentChange,
  type StoredDocument,
  type Writer,
} from '../../contexts/collections/documents/document-commands.js';
import type { Identity } from '../../contexts/identity/application/authenticate.query.js';
import { ListUsersQuery, MAX_USER_PAGE, type UserView } from '../../contexts/identity/application/commands.js';
import { userDoc } from './auth/user-routes.js';
import { JxpError } from './jxp-errors.js';
import { matches, MAX_LIMIT, parseListQuery, parseQueryBody, type ListQuery } from './list-query.js';
import { METADATA_FIELDS, USER_MODEL_NAME, validationError, type Model, type Models, type Verb } from './models.js';
import { grantCovers, grantOf, refusal, type Grant } from './perms.js';

export type Doc = Record<string, unknown>;
/** A single-document answer and its version (the ETag). */
export type Versioned<T> = { body: T; version?: number };
export type ListAnswer = Record<string, unknown> & { data: Doc[] };

/** Most operations one bulkwrite may carry. */
export const MAX_BULK_OPERATIONS = 1000;

/** The Mongo update operators a bulkwrite's updateOne/updateMany takes; any other is refused (400). */
export const UPDATE_OPERATORS = ['$set', '$unset', '$inc'] as const;

/** An update's operators: fields to set, fields to remove, numbers to add (declared fields only; others are dropped). */
type UpdateSpec = { set: Doc; unset: string[]; inc: Record<string, number> };

/** `update` (fields, or operators: $set, $unset, $inc) as an UpdateSpec; a BadRequest names what is wrong. */
function updateSpec(update: Doc, at: string): UpdateSpec {
  const keys = Object.keys(update);
  const operators = keys.filter((k) => k.startsWith('$'));
  if (operators.length === 0) return { set: update, unset: [], inc: {} };
  if (operators.length !== keys.length) throw new JxpError('BadRequest', `${at}: update takes fields or operators (${UPDATE_OPERATORS.join(', ')}), not both`);
  const unsupported = operators.find((k) => !(UPDATE_OPERATORS as readonly string[]).includes(k));
  if (unsupported) throw new JxpError('BadRequest', `${at}: update operator ${unsupported} is not supported (only ${UPDATE_OPERATORS.join(', ')})`);
  for (const k of operators) if (!isObject(update[k])) throw new JxpError('BadRequest', `${at}: ${k} must be an object`);
  const set = (update.$set ?? {}) as Doc;
  const unset = Object.keys((update.$unset ?? {}) as Doc);
  const inc = (update.$inc ?? {}) as Record<string, unknown>;
  for (const [field, n] of Object.entries(inc)) if (typeof n !== 'number' || !Number.isFinite(n)) throw new JxpError('BadRequest', `${at}: $inc of ${field} must be a number`);
  const seen = new Set<string>();
  for (const field of [...Object.keys(set), ...unset, ...Object.keys(inc)]) {
    if (seen.has(field)) throw new JxpError('BadRequest', `${at}: updating the path ${field} would create a conflict`);
    seen.add(field);
  }
  return { set, unset, inc: inc as Record<string, number> };
}

export const newObjectId = (): string => {
  const time = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return time + randomBytes(8).toString('hex');
};
const OBJECT_ID = /^[0-9a-f]{24}$/i;

export const writerOf = (identity: Identity | null): Writer => (identity ? { userId: identity.userId, name: identity.name, email: identity.email } : { userId: null, name: null, email: null });

/** A stored row as a document: its `_id` is the row id when the row (written by SQL) has none. */
export function present(stored: StoredDocument): Doc {
  return { ...stored.doc, _id: stored.doc._id ?? stored.id };
}

const isObject = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);
const isDeleted = (doc: Doc) => doc._deleted === true;

/** `If-Match`: `*` (any existing document) or a list of (weak or strong) ETags. */
export function ifMatchAllows(header: string | undefined, version: number | undefined): boolean {
  if (header === undefined) return true;
  if (version === undefined) return false;
  const tags = header.split(',').map((t) => t.trim()).filter(Boolean);
  return tags.some((t) => t === '*' || t.replace(/^W\//, '').replace(/^"|"$/g, '') === String(version));
}

const preconditionFailed = () => new JxpError('PreconditionFailed', 'The document does not match If-Match');

/**
 * JXP's REST semantics over the collections context: permissions, validation against the models file,
 * metadata fields, soft delete. Talks to the context only through the buses.
 */
export class DocumentsService {
  constructor(
    readonly models: Models,
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  model(name: string): Model {
    const model = this.models.get(name);
    if (!model) throw new JxpError('NotFound', `Model ${name} not found`);
    return model;
  }

  /** The caller's grant for a verb, or 403 when it has none at all. */
  grant(model: Model, identity: Identity | null, verb: Verb): Grant {
    const grant = grantOf(model.perms, identity, verb);
    if (grant.kind === 'denied') throw new JxpError('Forbidden', grant.message);
    return grant;
  }

  async list(modelName: string, identity: Identity | null, params: URLSearchParams, urlOf: (page: number) => string, extra: DocCondition[] = []): Promise<ListAnswer> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'r');
    const q = parseListQuery(model, params);
    return this.runList(model, grant, identity, q, [...q.conditions, ...extra], urlOf);
  }

  async count(modelName: string, identity: Identity | null, params: URLSearchParams): Promise<{ count: number }> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'r');
    const q = parseListQuery(model, params);
    const found = await this.queries.execute(new FindDocumentsQuery(model.name, this.selection(model, grant, q, q.conditions), { countOnly: true }));
    return { count: found.count ?? 0 };
  }

  async query(modelName: string, identity: Identity | null, body: unknown, params: URLSearchParams, urlOf: (page: number) => string): Promise<ListAnswer> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'r');
    if (body !== undefined && !isObject(body)) throw new JxpError('BadRequest', 'Body must be an object {query}');
    const conditions = parseQueryBody(model, (body as Doc | undefined)?.query);
    const q = parseListQuery(model, params);
    return this.runList(model, grant, identity, q, [...q.conditions, ...conditions], urlOf);
  }

  private selection(model: Model, grant: Grant, q: ListQuery, conditions: DocCondition[]) {
    const searchFields = [...model.fields.values()].filter((f) => f.type === 'string').map((f) => f.name);
    return {
      conditions,
      includeDeleted: q.showDeleted,
      ownerId: grant.kind === 'owner' ? grant.userId : undefined,
      search: q.search !== undefined && q.search !== '' ? { text: q.search, fields: searchFields } : undefined,
    };
  }

  private async runList(model: Model, grant: Grant, identity: Identity | null, q: ListQuery, conditions: DocCondition[], urlOf: (page: number) => string): Promise<ListAnswer> {
    const page = q.page ?? 1;
    const withCount = q.count || q.page !== undefined || q.limitCapped;
    const found = await this.queries.execute(
      new FindDocumentsQuery(model.name, this.selection(model, grant, q, conditions), { sort: q.sort, limit: q.limit, skip: (page - 1) * q.limit, count: withCount }),
    );
    let data = found.documents.map(present);
    if (q.populate.length > 0) data = await this.populate(model, identity, data, q.populate);
    if (q.fields) data = data.map((d) => Object.fromEntries(Object.entries(d).filter(([k]) => k === '_id' || q.fields!.includes(k))));
    const answer: ListAnswer = { limit: q.limit, page, data };
    if (q.limitCapped) answer.limit_capped = true;
    if (withCount) {
      const count = found.count ?? 0;
      const pageCount = Math.ceil(count / q.limit);
      Object.assign(answer, { count, page_count: pageCount });
      if (page < pageCount) answer.next = urlOf(page + 1);
      if (page > 1) answer.prev = urlOf(Math.min(page - 1, Math.max(pageCount, 1)));
    }
    return { ...answer, data };
  }

  /**
   * Replaces each populated field's id by the referenced document the caller may read (else leaves the id);
   * a `user` ref by the user as `GET /user/:id` answers it (never the password).
   */
  private async populate(model: Model, identity: Identity | null, docs: Doc[], fields: string[]): Promise<Doc[]> {
    for (const field of fields) {
      const ref = model.fields.get(field)?.ref;
      if (!ref) continue;
      if (ref === USER_MODEL_NAME) {
        docs = await this.populateUsers(identity, docs, field);
        continue;
      }
      const target = this.models.get(ref);
      if (!target) continue;
      const grant = grantOf(target.perms, identity, 'r');
      if (grant.kind === 'denied') continue;
      const ids = [...new Set(docs.map((d) => d[field]).filter((v): v is string => typeof v === 'string'))];
      const found = await this.queries.execute(new GetDocumentsQuery(ref, ids));
      docs = docs.map((d) => {
        const hit = typeof d[field] === 'string' ? found.get(d[field] as string) : undefined;
        if (!hit || isDeleted(hit.doc) || !grantCovers(grant, hit.doc)) return d;
        return { ...d, [field]: present(hit) };
      });
    }
    return docs;
  }

  /** The users a field names, those the caller may read (an admin: any; a user: themselves), live ones only. */
  private async populateUsers(identity: Identity | null, docs: Doc[], field: string): Promise<Doc[]> {
    if (!identity) return docs;
    const ids = [...new Set(docs.map((d) => d[field]).filter((v): v is string => typeof v === 'string' && OBJECT_ID.test(v)))].slice(0, MAX_USER_PAGE);
    if (ids.length === 0) return docs;
    const users: UserView[] = await this.queries.execute(new ListUsersQuery(identity, { filter: { _id: { $in: ids } }, limit: MAX_USER_PAGE }));
    const byId = new Map(users.map((u) => [u.id, userDoc(u)]));
    return docs.map((d) => {
      const hit = typeof d[field] === 'string' ? byId.get(d[field] as string) : undefined;
      return hit ? { ...d, [field]: hit } : d;
    });
  }

  async getOne(modelName: string, identity: Identity | null, id: string, params: URLSearchParams): Promise<Versioned<{ data: Doc }>> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'r');
    const found = (await this.queries.execute(new GetDocumentsQuery(model.name, [id]))).get(id);
    if (!found) throw new JxpError('NotFound', `Document ${id} not found on ${model.name}`);
    const showDeleted = params.get('showDeleted') === 'true' || params.get('showDeleted') === '1';
    if (isDeleted(found.doc) && !showDeleted) throw new JxpError('NotFound', `Document ${id} is deleted on ${model.name}`);
    if (!grantCovers(grant, found.doc)) throw new JxpError('Forbidden', refusal(grant, 'r'));
    let data = present(found);
    const populate = params.get('populate');
    if (populate) [data] = await this.populate(model, identity, [data], parseListQuery(model, new URLSearchParams({ populate })).populate);
    return { body: { data }, version: found.version };
  }

  /** The declared fields of a body (unknown fields dropped, as JXP's strict schemas do). */
  private declared(model: Model, body: Doc, emptyIsNull: boolean): Doc {
    const out: Doc = {};
    for (const [k, v] of Object.entries(body)) if (model.fields.has(k)) out[k] = emptyIsNull && v === '' ? null : v;
    return out;
  }

  private newDocument(model: Model, identity: Identity | null, body: unknown, now: string): Doc {
    if (!isObject(body)) throw new JxpError('BadRequest', 'Body must be a JSON object');
    const fields = this.declared(model, body, false);
    for (const field of model.fields.values()) if (field.default !== undefined && fields[field.name] === undefined) fields[field.name] = structuredClone(field.default);
    const error = validationError(model, fields);
    if (error) throw new JxpError('BadRequest', error);
    let id = newObjectId();
    if (body._id !== undefined) {
      if (typeof body._id !== 'string' || !OBJECT_ID.test(body._id)) throw new JxpError('BadRequest', '_id must be 24 hexadecimal characters');
      id = body._id.toLowerCase();
    }
    return { _id: id, ...fields, _owner_id: identity?.userId ?? null, _deleted: false, createdAt: now, updatedAt: now };
  }

  async create(modelName: string, identity: Identity | null, body: unknown): Promise<Versioned<{ status: string; message: string; data: Doc }>> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'c');
    const doc = this.newDocument(model, identity, body, new Date().toISOString());
    if (!grantCovers(grant, doc)) throw new JxpError('Forbidden', refusal(grant, 'c'));
    const id = doc._id as string;
    const outcome = await this.change(model, identity, [id], (current) => {
      if (current.has(id)) throw new JxpError('Conflict', `Document ${id} already exists on ${model.name}`);
      return { changes: [{ kind: 'insert', id, doc }], result: doc };
    });
    return { body: { status: 'ok', message: `${model.name} created`, data: doc }, version: outcome.versions.get(id) };
  }

  private merged(model: Model, current: StoredDocument, body: Doc, now: string): Doc {
    const doc: Doc = { ...current.doc, ...this.declared(model, body, true), _id: current.doc._id ?? current.id, updatedAt: now };
    if (body._deleted === false || body._deleted === true) doc._deleted = body._deleted;
    const error = validationError(model, doc);
    if (error) throw new JxpError('BadRequest', error);
    return doc;
  }

  async update(modelName: string, identity: Identity | null, id: string, body: unknown, ifMatch?: string): Promise<Versioned<{ status: string; message: string; data: Doc }>> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'u');
    if (!isObject(body)) throw new JxpError('BadRequest', 'Body must be a JSON object');
    const outcome = await this.change(model, identity, [id], (current) => {
      const found = current.get(id);
      if (!found) throw new JxpError('NotFound', `Document ${id} not found on ${model.name}`);
      if (!ifMatchAllows(ifMatch, found.version)) throw preconditionFailed();
      if (!grantCovers(grant, found.doc)) throw new JxpError('Forbidden', refusal(grant, 'u'));
      if (isDeleted(found.doc) && body._deleted !== false) throw new JxpError('NotFound', `Document ${id} is deleted on ${model.name}`);
      const doc = this.merged(model, found, body, new Date().toISOString());
      return { changes: [{ kind: 'update', id, doc }], result: doc };
    });
    return { body: { status: 'ok', message: `${model.name} updated`, data: outcome.result }, version: outcome.versions.get(id) };
  }

  async remove(modelName: string, identity: Identity | null, id: string, options: { permanent: boolean; cascade: boolean; ifMatch?: string }): Promise<{ status: string; message: string }> {
    const model = this.model(modelName);
    const grant = this.grant(model, identity, 'd');
    await this.change(model, identity, [id], (current) => {
      const found = current.get(id);
      if (!found) throw new JxpError('NotFound', `Document ${id} not found on ${model.name}`);
      if (!ifMatchAllows(options.ifMatch, found.version)) throw preconditionFailed();
      if (!grantCovers(grant, found.doc)) throw new JxpError('Forbidden', refusal(grant, 'd'));
      if (options.permanent) return { changes: [{ kind: 'delete', id }], result: undefined };
      if (isDeleted(found.doc)) throw new JxpError('NotFound', `Document ${id} is deleted on ${model.name}`);
      return { changes: [{ kind: 'update', id, doc: { ...found.doc, _id: found.doc._id ?? id, _deleted: true, updatedAt: new Date().toISOString() } }], result: undefined };
    });
    if (options.cascade) await this.cascade(model, identity, id, options.permanent, 0);
    return { status: 'ok', message: `${model.name}/${id} deleted` };
  }

  /** Deletes the documents whose `ref` fields point at a deleted one (each that the caller may delete), recursively. */
  private async cascade(parent: Model, identity: Identity | null, id: string, permanent: boolean, depth: number): Promise<void> {
    if (depth >= 8) return;
    for (const model of this.models.values()) {
      for (const field of model.fields.values()) {
        if (field.ref !== parent.name) continue;
        const grant = grantOf(model.perms, identity, 'd');
        if (grant.kind === 'denied') continue;
        const found = await this.queries.execute(
          new FindDocumentsQuery(model.name, { conditions: [{ field: field.name, op: 'eq', value: id }], ownerId: grant.kind === 'owner' ? grant.userId : undefined, includeDeleted: permanent }, { limit: MAX_LIMIT * 10 }),
        );
        for (const child of found.documents) {
          if (child.id === id && model.name === parent.name) continue;
          await this.change(model, identity, [child.id], (current) => {
            const now = current.get(child.id);
            if (!now) return { changes: [], result: undefined };
            if (permanent) return { changes: [{ kind: 'delete', id: child.id }], result: undefined };
            if (isDeleted(now.doc)) return { changes: [], result: undefined };
            return { changes: [{ kind: 'update', id: child.id, doc: { ...now.doc, _id: now.doc._id ?? child.id, _deleted: true, updatedAt: new Date().toISOString() } }], result: undefined };
          });
          await this.cascade(model, identity, child.id, permanent, depth + 1);
        }
      }
    }
  }

  /**
   * JXP's `POST /bulkwrite/:model`: a list of Mongo bulkWrite operations, applied all or none (JXP's are
   * not atomic). Each entry has one key: `insertOne {document}`, `updateOne {filter, update, upsert?}`
   * (update: fields, or the operators `$set`, `$unset`, `$inc`; another is a 400), `replaceOne {filter, replacement, upsert?}`, `deleteOne {filter}`;
   * admins also `updateMany` and `deleteMany`. A filter is a query body (the operators of `POST /query`);
   * it matches live documents unless it names `_deleted`. Deletes are permanent, as Mongo's. The answer's
   * `data` is Mongo's BulkWriteResult (counts, `insertedIds`/`upsertedIds` by operation index).
   */
  async bulkWrite(modelName: string, identity: Identity | null, body: unknown): Promise<{ status: string; message: string; data: Record<string, unknown> }> {
    const model = this.model(modelName);
    const ops = Array.isArray(body) ? body : isObject(body) && Array.isArray(body.operations) ? body.operations : undefined;
    if (!ops) throw new JxpError('BadRequest', 'Bulk write operations must be an array (insertOne, updateOne, replaceOne, deleteOne)');
    if (ops.length > MAX_BULK_OPERATIONS) throw new JxpError('BadRequest', `Too many operations (at most ${MAX_BULK_OPERATIONS})`);
    const now = new Date().toISOString();
    const grants: Partial<Record<'c' | 'u' | 'd', Grant>> = {};
    const grantFor = (verb: 'c' | 'u' | 'd') => (grants[verb] ??= this.grant(model, identity, verb));
    type Target = { conditions: DocCondition[]; byId?: string; many: boolean; includeDeleted: boolean; candidates: string[] };
    type Op =
      | { kind: 'insert'; doc: Doc }
      | { kind: 'update'; target: Target; spec: UpdateSpec; replace: boolean; upsert?: { id: string; body: Doc } }
      | { kind: 'delete'; target: Target };
    const parsed: Op[] = ops.map((entry: unknown, i: number): Op => {
      if (!isObject(entry) || Object.keys(entry).length !== 1) throw new JxpError('BadRequest', `operation ${i}: each bulk write entry must have exactly one operation`);
      const [name, payload] = Object.entries(entry)[0];
      if (!['insertOne', 'updateOne', 'replaceOne', 'deleteOne', 'updateMany', 'deleteMany'].includes(name)) throw new JxpError('BadRequest', `operation ${i}: bulk operation ${name} is not allowed`);
      if (name.endsWith('Many') && !identity?.admin) throw new JxpError('Forbidden', `Bulk operation ${name} requires admin`);
      if (!isObject(payload)) throw new JxpError('BadRequest', `operation ${i}: invalid bulk write operation payload`);
      if (name === 'insertOne') {
        grantFor('c');
        return { kind: 'insert', doc: this.newDocument(model, identity, payload.document ?? payload, now) };
      }
      if (!isObject(payload.filter)) throw new JxpError('BadRequest', `operation ${i}: filter must be an object`);
      const conditions = parseQueryBody(model, payload.filter);
      const only = conditions.length === 1 && conditions[0].field === '_id' && conditions[0].op === 'eq' && typeof conditions[0].value === 'string' ? (conditions[0].value as string) : undefined;
      const target: Target = { conditions, byId: only, many: name.endsWith('Many'), includeDeleted: conditions.some((c) => c.field === '_deleted'), candidates: only ? [only] : [] };
      if (name === 'deleteOne' || name === 'deleteMany') {
        grantFor('d');
        return { kind: 'delete', target };
      }
      const replace = name === 'replaceOne';
      const update = replace ? payload.replacement : payload.update;
      if (!isObject(update)) throw new JxpError('BadRequest', `operation ${i}: ${replace ? 'replacement' : 'update'} must be an object`);
      if (replace && Object.keys(update).some((k) => k.startsWith('$'))) throw new JxpError('BadRequest', `operation ${i}: a replacement takes no operators`);
      const spec = updateSpec(update, `operation ${i}`);
      grantFor('u');
      let upsert: { id: string; body: Doc } | undefined;
      if (payload.upsert === true) {
        grantFor('c');
        const seed: Doc = {};
        for (const c of conditions) if (c.op === 'eq' && model.fields.has(c.field)) seed[c.field] = c.value;
        // Built (and validated) only if nothing matches; its id is known now, so the write can hold it.
        if (only !== undefined && !/^[0-9a-f]{24}$/i.test(only)) throw new JxpError('BadRequest', `operation ${i}: _id must be 24 hexadecimal characters`);
        // As Mongo's: an upserted document takes $set's values and $inc's amounts; $unset has nothing to remove.
        upsert = { id: (only ?? newObjectId()).toLowerCase(), body: { ...seed, ...spec.set, ...spec.inc } };
      }
      return { kind: 'update', target, spec, replace, upsert };
    });
    // Filters other than {_id} are resolved first; each match is checked again against the document as it is when the write is decided.
    for (const op of parsed) {
      if (op.kind === 'insert' || op.target.byId !== undefined) continue;
      const grant = grantFor(op.kind === 'update' ? 'u' : 'd');
      const found = await this.queries.execute(
        new FindDocumentsQuery(model.name, { conditions: op.target.conditions, includeDeleted: op.target.includeDeleted, ownerId: grant.kind === 'owner' ? grant.userId : undefined }, { limit: op.target.many ? MAX_BULK_OPERATIONS : 1 }),
      );
      op.target.candidates = found.documents.map((d) => d.id);
    }
    const ids = [...new Set(parsed.flatMap((op) => (op.kind === 'insert' ? [op.doc._id as string] : [...op.target.candidates, ...(op.kind === 'update' && op.upsert ? [op.upsert.id] : [])])))];
    if (ids.length > MAX_BULK_OPERATIONS * 2) throw new JxpError('BadRequest', `Too many documents in one bulk write (at most ${MAX_BULK_OPERATIONS * 2})`);
    const outcome = await this.change(model, identity, ids, (current) => {
      const state = new Map<string, Doc | null>([...current].map(([id, s]) => [id, s.doc]));
      const result = { ok: 1, insertedCount: 0, matchedCount: 0, modifiedCount: 0, deletedCount: 0, upsertedCount: 0, insertedIds: {} as Record<number, string>, upsertedIds: {} as Record<number, string> };
      const insert = (doc: Doc) => {
        const id = doc._id as string;
        if (!grantCovers(grantFor('c'), doc)) throw new JxpError('Forbidden', refusal(grantFor('c'), 'c'));
        if (state.get(id)) throw new JxpError('Conflict', `Document ${id} already exists on ${model.name}`);
        state.set(id, doc);
      };
      const matched = (target: Target, verb: 'u' | 'd'): string[] => {
        const out: string[] = [];
        // The present's matches, then any document this write touched before (inserted or changed: ordered, as Mongo's).
        for (const id of target.byId !== undefined ? [target.byId] : [...target.candidates, ...state.keys()]) {
          const doc = state.get(id);
          if (!doc || out.includes(id) || (!target.includeDeleted && isDeleted(doc)) || !matches({ ...doc, _id: doc._id ?? id }, target.conditions)) continue;
          if (!grantCovers(grantFor(verb), doc)) {
            if (target.byId !== undefined) throw new JxpError('Forbidden', refusal(grantFor(verb), verb));
            continue;
          }
          out.push(id);
          if (!target.many) break;
        }
        return out;
      };
      parsed.forEach((op, index) => {
        if (op.kind === 'insert') {
          insert(op.doc);
          result.insertedCount++;
          result.insertedIds[index] = op.doc._id as string;
          return;
        }
        if (op.kind === 'delete') {
          for (const id of matched(op.target, 'd')) {
            state.set(id, null);
            result.deletedCount++;
          }
          return;
        }
        const hits = matched(op.target, 'u');
        if (hits.length === 0 && op.upsert) {
          insert(this.newDocument(model, identity, { ...op.upsert.body, _id: op.upsert.id }, now));
          result.upsertedCount++;
          result.upsertedIds[index] = op.upsert.id;
          return;
        }
        for (const id of hits) {
          const before = state.get(id)!;
          const base = op.replace ? Object.fromEntries(Object.entries(before).filter(([k]) => !model.fields.has(k))) : this.withOperators(model, before, op.spec, `operation ${index}`);
          const after = this.merged(model, { id, doc: base, version: 0 }, op.spec.set, now);
          result.matchedCount++;
          const { updatedAt: _a, ...was } = before;
          const { updatedAt: _b, ...is } = after;
          if (JSON.stringify(was) === JSON.stringify(is)) continue;
          state.set(id, after);
          result.modifiedCount++;
        }
      });
      const changes: DocumentChange[] = [];
      for (const [id, doc] of state) {
        if (doc === null) {
          if (current.has(id)) changes.push({ kind: 'delete', id });
        } else if (!current.has(id)) changes.push({ kind: 'insert', id, doc });
        else if (doc !== current.get(id)!.doc) changes.push({ kind: 'update', id, doc });
      }
      return { changes, result };
    });
    return { status: 'ok', message: `${model.name} bulk write`, data: outcome.result };
  }

  /** A document with an update's $unset and $inc applied (declared fields only); $inc of a non-number is a BadRequest. */
  private withOperators(model: Model, doc: Doc, spec: UpdateSpec, at: string): Doc {
    if (spec.unset.length === 0 && Object.keys(spec.inc).length === 0) return doc;
    const out: Doc = { ...doc };
    for (const field of spec.unset) if (model.fields.has(field)) delete out[field];
    for (const [field, n] of Object.entries(spec.inc)) {
      if (!model.fields.has(field)) continue;
      const current = out[field];
      if (current !== undefined && current !== null && typeof current !== 'number') throw new JxpError('BadRequest', `${at}: cannot apply $inc to ${field}: it is not a number`);
      out[field] = (typeof current === 'number' ? current : 0) + n;
    }
    return out;
  }

  private change<R>(model: Model, identity: Identity | null, ids: string[], decide: (current: ReadonlyMap<string, StoredDocument>) => { changes: DocumentChange[]; result: R }): Promise<ChangeOutcome<R>> {
    return this.commands.execute(new ChangeDocumentsCommand<R>(model.name, ids, decide, writerOf(identity))) as Promise<ChangeOutcome<R>>;
  }

  /** `GET /model`: every model with its perms and fields (the built-in user model added by the caller). */
  describe(): { model: string; perms: Record<string, string>; fields: Record<string, unknown> }[] {
    return [...this.models.values()].map((m) => ({
      model: m.name,
      perms: { ...m.perms },
      fields: {
        ...Object.fromEntries([...m.fields.values()].map((f) => [f.name, { ...f.schema, ...(f.ref ? { ref: f.ref } : {}), ...(f.default !== undefined ? { default: f.default } : {}), ...(m.required.includes(f.name) ? { required: true } : {}) }])),
        ...Object.fromEntries(METADATA_FIELDS.map((f) => [f, { type: f === '_deleted' ? 'boolean' : 'string', metadata: true }])),
      },
    }));
  }
}
