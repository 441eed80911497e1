import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The identity read model, kept by the inline `identity` projector (so a login right after a user is
 * created sees the user):
 * - `identity_users`: one row per user, soft-deleted ones included; `email` (lowercased) is unique, which
 *   the projector's insert enforces inside the append's transaction (a duplicate fails the append).
 * - `identity_api_keys`: the active keys, by the SHA-256 of the key (never the key itself).
 * - `identity_revoked_tokens`: token ids refused until they expire (rotated refresh tokens).
 */
export class CreateIdentity1766300000000 implements MigrationInterface {
  name = 'CreateIdentity1766300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS identity_users (
        id               text        PRIMARY KEY,
        email            text        NOT NULL,
        name             text,
        password_hash    text,
        admin            boolean     NOT NULL DEFAULT false,
        groups           jsonb       NOT NULL DEFAULT '[]',
        owner_id         text,
        deleted          boolean     NOT NULL DEFAULT false,
        token_generation integer     NOT NULL DEFAULT 0,
        version          integer     NOT NULL,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL
      )`);
    await db.query(`CREATE UNIQUE INDEX IF NOT EXISTS identity_users_email ON identity_users (email)`);
    await db.query(`
      CREATE TABLE IF NOT EXISTS identity_api_keys (
        id         text        PRIMARY KEY,
        user_id    text        NOT NULL,
        name       text        NOT NULL,
        key_hash   text        NOT NULL UNIQUE,
        key_prefix text        NOT NULL,
        last4      text        NOT NULL,
        login      boolean     NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX IF NOT EXISTS identity_api_keys_user ON identity_api_keys (user_id, created_at)`);
    await db.query(`
      CREATE TABLE IF NOT EXISTS identity_revoked_tokens (
        jti        text        PRIMARY KEY,
        user_id    text        NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX IF NOT EXISTS identity_revoked_tokens_expiry ON identity_revoked_tokens (expires_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS identity_revoked_tokens`);
    await db.query(`DROP TABLE IF EXISTS identity_api_keys`);
    await db.query(`DROP TABLE IF EXISTS identity_users`);
  }
}
