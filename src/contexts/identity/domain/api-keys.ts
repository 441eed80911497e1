import type { Decider } from '../../../core/actors/decider.js';
import { IdentityError } from './identity-errors.js';
import type { ApiKeyCreated, ApiKeyEvent } from './identity.events.js';

export type ApiKeysState = { active: Map<string, { login: boolean }> };

export type ApiKeysCommand =
  | { kind: 'create'; key: ApiKeyCreated['data']; maxKeys: number }
  | { kind: 'revoke'; userId: string; keyId: string; at: string };

/** One user's API keys: at most `maxKeys` active at once (besides the one login key); a revoked key never comes back. */
export const apiKeysDecider: Decider<ApiKeysState, ApiKeysCommand, ApiKeyEvent> = {
  initialState: () => ({ active: new Map() }),

  decide(command, state) {
    if (command.kind === 'create') {
      if (command.key.login) {
        // One login key per user: a second login racing the first makes none.
        return [...state.active.values()].some((k) => k.login) ? [] : [{ type: 'ApiKeyCreated', data: command.key }];
      }
      if ([...state.active.values()].filter((k) => !k.login).length >= command.maxKeys) throw new IdentityError('TOO_MANY', `A user may hold at most ${command.maxKeys} API keys; revoke one first`);
      return [{ type: 'ApiKeyCreated', data: command.key }];
    }
    if (!state.active.has(command.keyId)) throw new IdentityError('NOT_FOUND', `API key ${command.keyId} not found`);
    return [{ type: 'ApiKeyRevoked', data: { keyId: command.keyId, userId: command.userId, at: command.at } }];
  },

  evolve(state, event) {
    const active = new Map(state.active);
    if (event.type === 'ApiKeyCreated') active.set(event.data.keyId, { login: event.data.login });
    else active.delete(event.data.keyId);
    return { active };
  },
};
