import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Flows' durable state: per flow generation, its operator state (written in the transaction that moves
 * its projector's checkpoint), and an outbox of the records it decided to append (same transaction),
 * delivered to their streams afterwards under idempotency keys. Both are text, not jsonb: a state restored
 * must be the state saved, down to the order of its keys (jsonb reorders them).
 */
export class CreateStreamFlows1766100000000 implements MigrationInterface {
  name = 'CreateStreamFlows1766100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS stream_flow_states (
        flow       text        PRIMARY KEY,
        state      text,
        token      text        NOT NULL,
        paused     text,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE IF NOT EXISTS stream_flow_outbox (
        id         bigserial   PRIMARY KEY,
        flow       text        NOT NULL,
        appends    text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX IF NOT EXISTS stream_flow_outbox_flow ON stream_flow_outbox (flow, id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS stream_flow_outbox`);
    await db.query(`DROP TABLE IF EXISTS stream_flow_states`);
  }
}
