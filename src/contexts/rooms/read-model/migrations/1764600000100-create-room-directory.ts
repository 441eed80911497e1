import { MigrationInterface, QueryRunner } from 'typeorm';

/** The rooms directory: one row per room, kept by the room-directory projector. */
export class CreateRoomDirectory1764600000100 implements MigrationInterface {
  name = 'CreateRoomDirectory1764600000100';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS room_directory (
        room_id       text        PRIMARY KEY,
        created_at    timestamptz NOT NULL,
        messages      bigint      NOT NULL DEFAULT 0,
        last_position bigint      NOT NULL,
        last_event_at timestamptz NOT NULL
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS room_directory`);
  }
}
