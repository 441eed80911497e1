import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateEventLog1763900000000 implements MigrationInterface {
  name = 'CreateEventLog1763900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS events (
        global_position bigserial PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        stream_id       text        NOT NULL,
        stream_position bigint      NOT NULL,
        type            text        NOT NULL,
        data            jsonb       NOT NULL,
        metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
        node_id         text        NOT NULL DEFAULT '',
        created_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(
      `CREATE UNIQUE INDEX IF NOT EXISTS events_stream_position ON events (stream_id, stream_position)`,
    );
    await db.query(
      `CREATE INDEX IF NOT EXISTS events_tail_order ON events (transaction_id, global_position)`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS events`);
  }
}
