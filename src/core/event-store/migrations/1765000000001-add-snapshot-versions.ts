import { MigrationInterface, QueryRunner } from 'typeorm';

/** The version of the codec that wrote a snapshot: a snapshot of another version is not decoded. */
export class AddSnapshotVersions1765000000001 implements MigrationInterface {
  name = 'AddSnapshotVersions1765000000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS version int NOT NULL DEFAULT 0`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE snapshots DROP COLUMN IF EXISTS version`);
  }
}
