import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSnapshots1763900000001 implements MigrationInterface {
  name = 'CreateSnapshots1763900000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS snapshots (
        kind            text        NOT NULL,
        stream_id       text        NOT NULL,
        stream_position bigint      NOT NULL,
        state           jsonb       NOT NULL,
        taken_at        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, stream_id)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS snapshots`);
  }
}
