import type { Identity } from '../../contexts/identity/application/authenticate.query.js';
import type { Verb } from './models.js';

/** Allowed outright; allowed for documents the caller owns only; or refused with JXP's message. */
export type Grant = Readonly<{ kind: 'all' }> | Readonly<{ kind: 'owner'; userId: string }> | Readonly<{ kind: 'denied'; message: string }>;

const has = (perms: Readonly<Record<string, string>>, role: string, verb: Verb) => Object.hasOwn(perms, role) && perms[role].includes(verb);

/**
 * JXP's order: `all` → logged in (else "User not logged in") → `admin` → `user` → the caller's groups →
 * `owner` (decided per document, by `_owner_id`). The built-in roles are never taken as group names.
 */
export function grantOf(perms: Readonly<Record<string, string>>, identity: Identity | null, verb: Verb): Grant {
  if (has(perms, 'all', verb)) return { kind: 'all' };
  if (!identity) return { kind: 'denied', message: 'User not logged in' };
  if (identity.admin && has(perms, 'admin', verb)) return { kind: 'all' };
  if (has(perms, 'user', verb)) return { kind: 'all' };
  for (const group of identity.groups) {
    if (['all', 'admin', 'user', 'owner'].includes(group)) continue;
    if (has(perms, group, verb)) return { kind: 'all' };
  }
  if (has(perms, 'owner', verb)) return { kind: 'owner', userId: identity.userId };
  return { kind: 'denied', message: `Authorization failed - ${verb}` };
}

/** Whether a grant covers this document (owner grants: the caller is its `_owner_id`). */
export function grantCovers(grant: Grant, doc: Readonly<Record<string, unknown>>): boolean {
  if (grant.kind === 'all') return true;
  if (grant.kind === 'owner') return doc._owner_id === grant.userId;
  return false;
}

/** The refusal of a grant for a document it does not cover. */
export function refusal(grant: Grant, verb: Verb): string {
  return grant.kind === 'denied' ? grant.message : `Authorization failed - ${verb}`;
}
