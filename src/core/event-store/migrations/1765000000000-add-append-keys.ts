import { MigrationInterface, QueryRunner } from 'typeorm';

/** Idempotency keys: set on the first row of each stream append, so that a retried append is found, not repeated. */
export class AddAppendKeys1765000000000 implements MigrationInterface {
  name = 'AddAppendKeys1765000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE events ADD COLUMN IF NOT EXISTS append_key text`);
    await db.query(
      `CREATE UNIQUE INDEX IF NOT EXISTS events_append_key ON events (stream_id, append_key) WHERE append_key IS NOT NULL`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS events_append_key`);
    await db.query(`ALTER TABLE events DROP COLUMN IF EXISTS append_key`);
  }
}
