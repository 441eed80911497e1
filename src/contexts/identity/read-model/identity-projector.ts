import type { SqlSession } from '../../../core/database/database.js';
import type { RecordedEvent } from '../../../core/event-store/event.js';
import type { Projector } from '../../../core/projections/projector.js';
import {
  API_KEYS_STREAM_PREFIX,
  IDENTITY_PROJECTED_TYPES,
  TOKENS_STREAM_PREFIX,
  USER_STREAM_PREFIX,
  type ApiKeyEvent,
  type TokenRevoked,
  type UserEvent,
} from '../domain/identity.events.js';

const COLUMNS: Record<string, string> = { name: 'name', email: 'email', passwordHash: 'password_hash', admin: 'admin', groups: 'groups' };

/**
 * Keeps the identity tables inline, in the append's transaction: a user, a key or a revocation is in force
 * as soon as its append is acknowledged, on every server sharing the database. Expired revocations are
 * dropped as new ones come (and not replayed by a rebuild): a token past its expiry is refused anyway.
 */
export const identityProjector: Projector = {
  name: 'identity',
  version: 1,
  mode: 'inline',
  selection: { streamPrefixes: [USER_STREAM_PREFIX, API_KEYS_STREAM_PREFIX, TOKENS_STREAM_PREFIX], eventTypes: IDENTITY_PROJECTED_TYPES },
  tables: ['identity_users', 'identity_api_keys', 'identity_revoked_tokens'],
  async handle(tx: SqlSession, events: readonly RecordedEvent[]) {
    let revoked = false;
    for (const event of events as readonly RecordedEvent<UserEvent | ApiKeyEvent | TokenRevoked>[]) {
      await apply(tx, event);
      revoked ||= event.type === 'TokenRevoked';
    }
    if (revoked) await tx.query(`DELETE FROM identity_revoked_tokens WHERE expires_at < now()`);
  },
};

async function apply(tx: SqlSession, event: RecordedEvent<UserEvent | ApiKeyEvent | TokenRevoked>): Promise<void> {
  switch (event.type) {
    case 'UserCreated': {
      const d = event.data;
      await tx.query(
        `INSERT INTO identity_users (id, email, name, password_hash, admin, groups, owner_id, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $9)`,
        [d.userId, d.email, d.name, d.passwordHash, d.admin, JSON.stringify(d.groups), d.ownerId, event.streamPosition, d.at],
      );
      return;
    }
    case 'UserUpdated': {
      const sets: string[] = [];
      const params: unknown[] = [event.data.userId, event.streamPosition, event.data.at];
      for (const [key, value] of Object.entries(event.data.changes)) {
        const column = COLUMNS[key];
        if (!column) continue;
        params.push(key === 'groups' ? JSON.stringify(value) : value);
        sets.push(`${column} = $${params.length}${key === 'groups' ? '::jsonb' : ''}`);
      }
      await tx.query(`UPDATE identity_users SET ${[...sets, 'version = $2', 'updated_at = $3'].join(', ')} WHERE id = $1`, params);
      return;
    }
    case 'UserDeleted':
    case 'UserRestored':
      await tx.query(`UPDATE identity_users SET deleted = $2, version = $3, updated_at = $4 WHERE id = $1`, [
        event.data.userId,
        event.type === 'UserDeleted',
        event.streamPosition,
        event.data.at,
      ]);
      return;
    case 'UserTokensRevoked':
      await tx.query(`UPDATE identity_users SET token_generation = $2, version = $3 WHERE id = $1`, [event.data.userId, event.data.generation, event.streamPosition]);
      return;
    case 'ApiKeyCreated': {
      const d = event.data;
      await tx.query(
        `INSERT INTO identity_api_keys (id, user_id, name, key_hash, key_prefix, last4, login, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [d.keyId, d.userId, d.name, d.hash, d.prefix, d.last4, d.login, d.at],
      );
      return;
    }
    case 'ApiKeyRevoked':
      await tx.query(`DELETE FROM identity_api_keys WHERE id = $1`, [event.data.keyId]);
      return;
    case 'TokenRevoked':
      await tx.query(
        `INSERT INTO identity_revoked_tokens (jti, user_id, expires_at) SELECT $1, $2, $3::timestamptz WHERE $3::timestamptz > now() ON CONFLICT (jti) DO NOTHING`,
        [event.data.jti, event.data.userId, event.data.expiresAt],
      );
      return;
  }
}
