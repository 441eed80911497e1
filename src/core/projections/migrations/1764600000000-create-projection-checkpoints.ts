import { MigrationInterface, QueryRunner } from 'typeorm';

/** Where each projector stands in the log, written in the same transaction as its read-model tables. */
export class CreateProjectionCheckpoints1764600000000 implements MigrationInterface {
  name = 'CreateProjectionCheckpoints1764600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS projection_checkpoints (
        name            text        PRIMARY KEY,
        version         integer     NOT NULL,
        transaction_id  xid8        NOT NULL DEFAULT '0'::xid8,
        global_position bigint      NOT NULL DEFAULT 0,
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS projection_checkpoints`);
  }
}
