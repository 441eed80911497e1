import type { Decider } from '../../../core/actors/decider.js';
import { IdentityError } from './identity-errors.js';
import type { UserEvent, UserFields } from './identity.events.js';

export type UserState = {
  exists: boolean;
  deleted: boolean;
  fields: UserFields;
  tokenGeneration: number;
  /** Events folded so far: the stream's version (the user's ETag). */
  version: number;
};

/** If-Match as the identity side takes it: the versions a write may start from (undefined: any). */
export type ExpectedVersions = readonly number[] | undefined;

export type UserCommand =
  | { kind: 'create'; userId: string; fields: UserFields; ownerId: string | null; at: string }
  | { kind: 'update'; userId: string; changes: Partial<UserFields>; at: string; expected?: ExpectedVersions }
  | { kind: 'delete'; userId: string; at: string; expected?: ExpectedVersions }
  | { kind: 'restore'; userId: string; at: string; expected?: ExpectedVersions }
  | { kind: 'revoke_tokens'; userId: string; at: string };

const EMPTY: UserFields = { name: null, email: '', passwordHash: null, admin: false, groups: [] };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** One user: created once, changed field by field (only what differs is recorded), soft-deleted and restored. */
export const userDecider: Decider<UserState, UserCommand, UserEvent> = {
  initialState: () => ({ exists: false, deleted: false, fields: EMPTY, tokenGeneration: 0, version: 0 }),

  decide(command, state) {
    if (command.kind === 'create') {
      if (state.exists) throw new IdentityError('CONFLICT', `User ${command.userId} already exists`);
      return [{ type: 'UserCreated', data: { userId: command.userId, ownerId: command.ownerId, at: command.at, ...command.fields } }];
    }
    if (!state.exists) throw new IdentityError('NOT_FOUND', `User ${command.userId} not found`);
    if (command.kind !== 'revoke_tokens' && command.expected !== undefined && !command.expected.includes(state.version)) {
      throw new IdentityError('PRECONDITION_FAILED', `User ${command.userId} is at version ${state.version}, not as If-Match asks`);
    }
    switch (command.kind) {
      case 'update': {
        const changes: Partial<UserFields> = {};
        for (const [key, value] of Object.entries(command.changes) as [keyof UserFields, unknown][]) {
          if (value !== undefined && !same(state.fields[key], value)) (changes as Record<string, unknown>)[key] = value;
        }
        if (Object.keys(changes).length === 0) return [];
        return [{ type: 'UserUpdated', data: { userId: command.userId, changes, at: command.at } }];
      }
      case 'delete':
        return state.deleted ? [] : [{ type: 'UserDeleted', data: { userId: command.userId, at: command.at } }];
      case 'restore':
        return state.deleted ? [{ type: 'UserRestored', data: { userId: command.userId, at: command.at } }] : [];
      case 'revoke_tokens':
        return [{ type: 'UserTokensRevoked', data: { userId: command.userId, generation: state.tokenGeneration + 1, at: command.at } }];
    }
  },

  evolve(before, event) {
    const state = { ...before, version: before.version + 1 };
    switch (event.type) {
      case 'UserCreated': {
        const { name, email, passwordHash, admin, groups } = event.data;
        return { ...state, exists: true, fields: { name, email, passwordHash, admin, groups } };
      }
      case 'UserUpdated':
        return { ...state, fields: { ...state.fields, ...event.data.changes } };
      case 'UserDeleted':
        return { ...state, deleted: true };
      case 'UserRestored':
        return { ...state, deleted: false };
      case 'UserTokensRevoked':
        return { ...state, tokenGeneration: event.data.generation };
    }
  },
};
