import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { Identity } from '../../../contexts/identity/application/authenticate.query.js';
import {
  CountUsersQuery,
  CreateUserCommand,
  DeleteUserCommand,
  GetUserQuery,
  ListUsersQuery,
  MAX_USER_PAGE,
  UpdateUserCommand,
  type UserCondition,
  type UserListOptions,
  type UserView,
} from '../../../contexts/identity/application/commands.js';
import { JxpError } from '../jxp-errors.js';
import { jxp } from './identity-errors.js';

/** The built-in user model as `GET /jxp/model` describes it. The password is write-only. */
export const USER_MODEL = {
  model: 'user',
  perms: { admin: 'crud', owner: 'ru' },
  fields: {
    name: { type: 'string' },
    email: { type: 'string', format: 'email' },
    password: { type: 'string', writeOnly: true },
    admin: { type: 'boolean' },
    groups: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** A user as JXP answers it: never the password. */
export type UserDoc = {
  _id: string;
  name: string | null;
  email: string;
  admin: boolean;
  groups: string[];
  _owner_id: string | null;
  _deleted: boolean;
  createdAt: string;
  updatedAt: string;
};

/** `GET /jxp/api/user` input, parsed: from a query string (URLSearchParams) or already as an object. */
export type UserListQuery = {
  limit?: number | string;
  page?: number | string;
  /** Field → value, `$op:value` text (`$gte:…`, `$in:[a,b]`, `$regex:/p/i`, `$exists:true`), a list of those (all must hold), or a UserCondition. */
  filter?: Record<string, string | readonly string[] | UserCondition>;
  /** `-name` / `name,-email`, or field → 1 | -1. */
  sort?: string | Record<string, 1 | -1 | string>;
  fields?: string | readonly string[];
  search?: string;
  showDeleted?: boolean | string;
  count?: boolean | string;
};

export type Versioned<T> = { body: T; version?: number };

export type UserListAnswer = {
  limit: number;
  page: number;
  data: Partial<UserDoc>[];
  limit_capped?: true;
  count?: number;
  page_count?: number;
  next?: string;
  prev?: string;
};

const DEFAULT_LIMIT = 100;
const FILTERABLE = new Set(['_id', 'name', 'email', 'admin', 'groups', '_owner_id', '_deleted', 'createdAt', 'updatedAt']);
const truthy = (v: unknown) => v === true || v === '1' || v === 'true';
const bad = (message: string) => new JxpError('BadRequest', message);

export function userDoc(user: UserView): UserDoc {
  return {
    _id: user.id,
    name: user.name,
    email: user.email,
    admin: user.admin,
    groups: [...user.groups],
    _owner_id: user.ownerId,
    _deleted: user.deleted,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}

/** `$gte:5`, `$in:[a,b]`, `$regex:/p/i`, `$exists:true`, or a plain value. */
function parseCondition(text: string): UserCondition {
  const m = /^\$(gt|gte|lt|lte|ne|in|nin|regex|exists):([\s\S]*)$/.exec(text);
  if (!m) return text;
  const [, op, rest] = m;
  if (op === 'in' || op === 'nin') {
    const list = /^\[([\s\S]*)\]$/.exec(rest);
    const values = (list ? list[1] : rest).split(',').map((v) => v.trim()).filter((v) => v !== '');
    return { [`$${op}`]: values };
  }
  if (op === 'regex') {
    const re = /^\/([\s\S]*)\/([a-z]*)$/.exec(rest);
    return re ? { $regex: re[1], $options: re[2] } : { $regex: rest };
  }
  if (op === 'exists') return { $exists: truthy(rest) };
  return { [`$${op}`]: rest };
}

function fromParams(params: URLSearchParams): UserListQuery {
  const filter: Record<string, string[]> = {};
  const sort: Record<string, string> = {};
  let sortText: string | undefined;
  for (const [key, value] of params) {
    const f = /^filter\[([^\]]+)\]$/.exec(key);
    if (f) (filter[f[1]] ??= []).push(value);
    const s = /^sort\[([^\]]+)\]$/.exec(key);
    if (s) sort[s[1]] = value;
    if (key === 'sort') sortText = value;
  }
  return {
    limit: params.get('limit') ?? undefined,
    page: params.get('page') ?? undefined,
    filter,
    sort: sortText ?? sort,
    fields: params.get('fields') ?? undefined,
    search: params.get('search') ?? undefined,
    showDeleted: params.get('showDeleted') ?? undefined,
    count: params.get('count') ?? undefined,
  };
}

function positive(name: string, value: number | string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw bad(`${name} must be a positive integer`);
  return n;
}

function listOptions(query: UserListQuery): { options: UserListOptions; limit: number; capped: boolean; page?: number; fields?: string[] } {
  const asked = positive('limit', query.limit) ?? DEFAULT_LIMIT;
  const limit = Math.min(asked, MAX_USER_PAGE);
  const page = positive('page', query.page);
  const filter: Record<string, UserCondition | UserCondition[]> = {};
  for (const [field, raw] of Object.entries(query.filter ?? {})) {
    if (!FILTERABLE.has(field)) throw bad(`Unknown field ${field} on user`);
    const list = Array.isArray(raw) ? raw : [raw];
    filter[field] = list.map((v) => (typeof v === 'string' ? parseCondition(v) : (v as UserCondition)));
  }
  const sort: Record<string, 1 | -1> = {};
  if (typeof query.sort === 'string') {
    for (const part of query.sort.split(',').map((p) => p.trim()).filter(Boolean)) sort[part.replace(/^[-+]/, '')] = part.startsWith('-') ? -1 : 1;
  } else {
    for (const [field, dir] of Object.entries(query.sort ?? {})) sort[field] = Number(dir) < 0 ? -1 : 1;
  }
  for (const field of Object.keys(sort)) if (!FILTERABLE.has(field)) throw bad(`Unknown field ${field} on user`);
  const fields = typeof query.fields === 'string' ? query.fields.split(',').map((f) => f.trim()).filter(Boolean) : query.fields ? [...query.fields] : undefined;
  return {
    options: { filter, sort, limit, offset: ((page ?? 1) - 1) * limit, includeDeleted: truthy(query.showDeleted), search: query.search || undefined },
    limit,
    capped: asked > MAX_USER_PAGE,
    page,
    fields,
  };
}

/** If-Match as versions: undefined for none or `*` (any existing user); a tag that is no version matches none. */
export function expectedVersions(header: string | undefined): number[] | undefined {
  if (header === undefined) return undefined;
  const tags = header.split(',').map((t) => t.trim()).filter(Boolean);
  if (tags.length === 0 || tags.includes('*')) return undefined;
  return tags.map((t) => t.replace(/^W\//, '').replace(/^"|"$/g, '')).map((t) => (/^[0-9]{1,15}$/.test(t) ? Number(t) : -1));
}

function loggedIn(identity: Identity | null): Identity {
  if (!identity) throw new JxpError('Forbidden', 'User not logged in');
  return identity;
}

function body(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw bad('The body must be an object');
  return value as Record<string, unknown>;
}

/**
 * The built-in `user` model's REST answers, for the documents dialect's `/jxp/api/:model` routes when the
 * model is `user`: JXP-shaped bodies; the identity context applies the rules (only an admin creates or
 * deletes; a non-admin reads and updates only themselves, never their `admin` or `groups`).
 */
@Injectable()
export class UserRoutes {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  /** `{limit, page, data}`; `count` and `page_count` (and `next`/`prev` when `urlOf` is given) with count, page or a capped limit. */
  async list(identity: Identity | null, query: URLSearchParams | UserListQuery = {}, urlOf?: (page: number) => string): Promise<UserListAnswer> {
    const actor = loggedIn(identity);
    const q = listOptions(query instanceof URLSearchParams ? fromParams(query) : query);
    const users = await jxp(this.queries.execute(new ListUsersQuery(actor, q.options)));
    const page = q.page ?? 1;
    const data = users.map(userDoc).map((d) => (q.fields ? Object.fromEntries(Object.entries(d).filter(([k]) => k === '_id' || q.fields!.includes(k))) : d));
    const answer: UserListAnswer = { limit: q.limit, page, data };
    if (q.capped) answer.limit_capped = true;
    const raw = query instanceof URLSearchParams ? query.get('count') : query.count;
    if (truthy(raw) || q.page !== undefined || q.capped) {
      const count = await jxp(this.queries.execute(new CountUsersQuery(actor, q.options)));
      const pageCount = Math.ceil(count / q.limit);
      Object.assign(answer, { count, page_count: pageCount });
      if (urlOf && page < pageCount) answer.next = urlOf(page + 1);
      if (urlOf && page > 1) answer.prev = urlOf(Math.min(page - 1, Math.max(pageCount, 1)));
    }
    return answer;
  }

  async count(identity: Identity | null, query: URLSearchParams | UserListQuery = {}): Promise<{ count: number }> {
    const q = listOptions(query instanceof URLSearchParams ? fromParams(query) : query);
    return { count: await jxp(this.queries.execute(new CountUsersQuery(loggedIn(identity), q.options))) };
  }

  /** `{data}`; a soft-deleted user is 404 unless `showDeleted`. */
  async get(identity: Identity | null, id: string, showDeleted = false): Promise<{ data: UserDoc }> {
    return (await this.getVersioned(identity, id, showDeleted)).body;
  }

  async create(identity: Identity | null, input: unknown): Promise<{ status: 'ok'; message: string; data: UserDoc }> {
    return (await this.createVersioned(identity, input)).body;
  }

  /** A partial update; `{_deleted: false}` undeletes (admin), `{_deleted: true}` deletes. */
  async update(identity: Identity | null, id: string, input: unknown): Promise<{ status: 'ok'; message: string; data: UserDoc }> {
    return (await this.updateVersioned(identity, id, input)).body;
  }

  /** The same answers with the user's version (for an `ETag: "<version>"`). */
  async getVersioned(identity: Identity | null, id: string, showDeleted = false): Promise<Versioned<{ data: UserDoc }>> {
    const user = await jxp(this.queries.execute(new GetUserQuery(loggedIn(identity), id, showDeleted)));
    return { body: { data: userDoc(user) }, version: user.version };
  }

  async createVersioned(identity: Identity | null, input: unknown): Promise<Versioned<{ status: 'ok'; message: string; data: UserDoc }>> {
    const user = await jxp(this.commands.execute(new CreateUserCommand(loggedIn(identity), body(input))));
    return { body: { status: 'ok', message: 'user created', data: userDoc(user) }, version: user.version };
  }

  /** `ifMatch`: the request's If-Match header (`*`, or ETags); a mismatch is 412 PreconditionFailed and nothing changes. */
  async updateVersioned(identity: Identity | null, id: string, input: unknown, ifMatch?: string): Promise<Versioned<{ status: 'ok'; message: string; data: UserDoc }>> {
    const fields = body(input);
    const actor = loggedIn(identity);
    const expected = expectedVersions(ifMatch);
    let user: UserView;
    if (fields._deleted === true || fields._deleted === 'true') user = await jxp(this.commands.execute(new DeleteUserCommand(actor, id, expected)));
    else user = await jxp(this.commands.execute(new UpdateUserCommand(actor, id, fields, fields._deleted === false || fields._deleted === 'false', expected)));
    return { body: { status: 'ok', message: 'user updated', data: userDoc(user) }, version: user.version };
  }

  /** Soft delete, as JXP's; honours If-Match as updateVersioned does. */
  async remove(identity: Identity | null, id: string, ifMatch?: string): Promise<{ status: 'ok'; message: string }> {
    await jxp(this.commands.execute(new DeleteUserCommand(loggedIn(identity), id, expectedVersions(ifMatch))));
    return { status: 'ok', message: `user/${id} deleted` };
  }
}
