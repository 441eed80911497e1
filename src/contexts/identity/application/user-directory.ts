import type { Database, Row } from '../../../core/database/database.js';
import { IdentityError } from '../domain/identity-errors.js';
import type { Identity } from './authenticate.query.js';
import { MAX_USER_PAGE, type ApiKeyView, type UserCondition, type UserListOptions, type UserView } from './commands.js';

/** A user row with what authentication needs besides the view. */
export type UserRecord = UserView & { passwordHash: string | null; tokenGeneration: number };

type FieldType = 'text' | 'boolean' | 'time' | 'groups';
const FIELDS: Record<string, { column: string; type: FieldType }> = {
  _id: { column: 'id', type: 'text' },
  name: { column: 'name', type: 'text' },
  email: { column: 'email', type: 'text' },
  admin: { column: 'admin', type: 'boolean' },
  groups: { column: 'groups', type: 'groups' },
  _owner_id: { column: 'owner_id', type: 'text' },
  _deleted: { column: 'deleted', type: 'boolean' },
  createdAt: { column: 'created_at', type: 'time' },
  updatedAt: { column: 'updated_at', type: 'time' },
};

const USER_COLUMNS = `id, email, name, password_hash, admin, groups, owner_id, deleted, token_generation, version,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`;

export function toRecord(row: Row): UserRecord {
  return {
    id: row.id,
    name: row.name ?? null,
    email: row.email,
    admin: row.admin === true,
    groups: Array.isArray(row.groups) ? row.groups : typeof row.groups === 'string' ? JSON.parse(row.groups) : [],
    ownerId: row.owner_id ?? null,
    deleted: row.deleted === true,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: Number(row.version),
    passwordHash: row.password_hash ?? null,
    tokenGeneration: Number(row.token_generation),
  };
}

export function toView(record: UserRecord): UserView {
  const { passwordHash: _hash, tokenGeneration: _generation, ...view } = record;
  return view;
}

export function toIdentity(record: UserView): Identity {
  return { userId: record.id, email: record.email, name: record.name ?? '', admin: record.admin, groups: [...record.groups] };
}

/** Reads of the identity tables (the inline projector's): always fresh, so every server sees every change. */
export class UserDirectory {
  constructor(private readonly db: Database) {}

  async byId(id: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.query(`SELECT ${USER_COLUMNS} FROM identity_users WHERE id = $1`, [id], 'identity_user_by_id');
    return row && toRecord(row);
  }

  async byEmail(email: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.query(`SELECT ${USER_COLUMNS} FROM identity_users WHERE email = $1`, [email], 'identity_user_by_email');
    return row && toRecord(row);
  }

  /** The user and whether token `jti` is revoked, in one round trip. */
  async forToken(userId: string, jti: string): Promise<{ user: UserRecord; revoked: boolean } | undefined> {
    const [row] = await this.db.query(
      `SELECT ${USER_COLUMNS}, EXISTS (SELECT 1 FROM identity_revoked_tokens WHERE jti = $2) AS revoked FROM identity_users WHERE id = $1`,
      [userId, jti],
      'identity_user_for_token',
    );
    return row && { user: toRecord(row), revoked: row.revoked === true };
  }

  async byApiKeyHash(hash: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.query(
      `SELECT ${USER_COLUMNS} FROM identity_users WHERE id = (SELECT user_id FROM identity_api_keys WHERE key_hash = $1)`,
      [hash],
      'identity_user_by_key',
    );
    return row && toRecord(row);
  }

  async hasUsers(): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM identity_users LIMIT 1`);
    return rows.length > 0;
  }

  async apiKeys(userId: string): Promise<ApiKeyView[]> {
    const rows = await this.db.query(
      `SELECT id, user_id, name, key_prefix, last4, login, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
       FROM identity_api_keys WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id, name: r.name, prefix: r.key_prefix, last4: r.last4, login: r.login === true, createdAt: r.created_at }));
  }

  async list(options: UserListOptions, onlyId?: string): Promise<UserView[]> {
    const { where, params } = compileWhere(options, onlyId);
    const order = compileSort(options.sort);
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 100)), MAX_USER_PAGE);
    const offset = Math.max(0, Math.floor(options.offset ?? 0));
    params.push(limit, offset);
    const rows = await this.db.query(
      `SELECT ${USER_COLUMNS} FROM identity_users WHERE ${where} ORDER BY ${order} LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return rows.map((r) => toView(toRecord(r)));
  }

  async count(options: UserListOptions, onlyId?: string): Promise<number> {
    const { where, params } = compileWhere(options, onlyId);
    const [row] = await this.db.query(`SELECT count(*)::int AS n FROM identity_users WHERE ${where}`, params);
    return Number(row.n);
  }
}

const bad = (message: string) => new IdentityError('BAD_REQUEST', message);

function compileSort(sort: UserListOptions['sort']): string {
  const parts: string[] = [];
  for (const [field, direction] of Object.entries(sort ?? {})) {
    const spec = FIELDS[field];
    if (!spec) throw bad(`Cannot sort by ${field}`);
    parts.push(`${spec.column} ${Number(direction) < 0 ? 'DESC' : 'ASC'}`);
  }
  parts.push('id ASC');
  return parts.join(', ');
}

function compileWhere(options: UserListOptions, onlyId?: string): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  const clauses: string[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (!options.includeDeleted) clauses.push('NOT deleted');
  if (onlyId !== undefined) clauses.push(`id = ${param(onlyId)}`);
  if (options.search) {
    if (options.search.length > 200) throw bad('search is too long');
    const like = `%${options.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    clauses.push(`(name ILIKE ${param(like)} OR email ILIKE $${params.length})`);
  }
  for (const [field, conditions] of Object.entries(options.filter ?? {})) {
    const spec = FIELDS[field];
    if (!spec) throw bad(`Cannot filter by ${field}`);
    const list = (Array.isArray(conditions) ? conditions : [conditions]) as UserCondition[];
    if (list.length > 20) throw bad(`Too many conditions on ${field}`);
    for (const condition of list) clauses.push(compileCondition(field, spec, condition, param));
  }
  return { where: clauses.length > 0 ? clauses.join(' AND ') : 'true', params };
}

function cast(field: string, type: FieldType, value: unknown): unknown {
  if (value === null) return null;
  switch (type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1' || value === 1) return true;
      if (value === 'false' || value === '0' || value === 0) return false;
      throw bad(`${field} must be a boolean`);
    case 'time': {
      const date = new Date(value as string);
      if ((typeof value !== 'string' && typeof value !== 'number') || Number.isNaN(date.getTime())) throw bad(`${field} must be a date`);
      return date.toISOString();
    }
    default:
      if (typeof value === 'object') throw bad(`${field} must be a string`);
      return field === 'email' ? String(value).toLowerCase() : String(value);
  }
}

const COMPARISONS: Record<string, string> = { $eq: '=', $ne: '<>', $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };

function compileCondition(field: string, spec: { column: string; type: FieldType }, condition: UserCondition, param: (v: unknown) => string): string {
  const { column, type } = spec;
  const equal = (value: unknown, negate: boolean): string => {
    const v = cast(field, type === 'groups' ? 'text' : type, value);
    if (v === null) return `${column} IS ${negate ? 'NOT ' : ''}NULL`;
    if (type === 'groups') return `${negate ? 'NOT ' : ''}(${column} ? ${param(v)})`;
    return negate ? `${column} IS DISTINCT FROM ${param(v)}` : `${column} = ${param(v)}`;
  };
  if (condition === null || typeof condition !== 'object') return equal(condition, false);
  const parts: string[] = [];
  for (const [op, operand] of Object.entries(condition)) {
    if (op === '$options') continue;
    if (op === '$eq' || op === '$ne') parts.push(equal(operand, op === '$ne'));
    else if (COMPARISONS[op]) {
      if (type === 'groups') throw bad(`${field} cannot be compared with ${op}`);
      parts.push(`${column} ${COMPARISONS[op]} ${param(cast(field, type, operand))}`);
    } else if (op === '$in' || op === '$nin') {
      if (!Array.isArray(operand) || operand.length > 1000) throw bad(`${op} on ${field} takes a list (of at most 1000 values)`);
      const inner = operand.length === 0 ? 'false' : `(${operand.map((v) => equal(v, false)).join(' OR ')})`;
      parts.push(op === '$in' ? inner : `NOT ${inner}`);
    } else if (op === '$regex') {
      if (typeof operand !== 'string' || operand.length > 200 || type !== 'text') throw bad(`$regex on ${field} takes a pattern of at most 200 characters`);
      const insensitive = typeof condition.$options === 'string' && condition.$options.includes('i');
      parts.push(`${column} ${insensitive ? '~*' : '~'} ${param(operand)}`);
    } else if (op === '$exists') {
      parts.push(`${column} IS ${operand === true || operand === 'true' ? 'NOT ' : ''}NULL`);
    } else throw bad(`Unknown operator ${op} on ${field}`);
  }
  return parts.length > 0 ? `(${parts.join(' AND ')})` : 'true';
}
