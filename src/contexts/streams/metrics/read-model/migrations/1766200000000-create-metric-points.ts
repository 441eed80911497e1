import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The metrics read model (kept by the `metric-points` projector from the metric streams): one row per
 * stored point, indexed by time and by its tags and dimensions (jsonb containment); the fields seen per
 * metric (NSDb's schema); and per metric stream the position its rows are complete up to.
 */
export class CreateMetricPoints1766200000000 implements MigrationInterface {
  name = 'CreateMetricPoints1766200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS metric_points (
        metric          text             NOT NULL,
        generation      int              NOT NULL,
        stream_position bigint           NOT NULL,
        ts              bigint           NOT NULL,
        value           double precision NOT NULL,
        dimensions      jsonb            NOT NULL DEFAULT '{}',
        tags            jsonb            NOT NULL DEFAULT '{}',
        PRIMARY KEY (metric, generation, stream_position)
      )`);
    await db.query(`CREATE INDEX IF NOT EXISTS metric_points_ts ON metric_points (metric, generation, ts)`);
    await db.query(`CREATE INDEX IF NOT EXISTS metric_points_tags ON metric_points USING gin (tags jsonb_path_ops)`);
    await db.query(`CREATE INDEX IF NOT EXISTS metric_points_dimensions ON metric_points USING gin (dimensions jsonb_path_ops)`);
    await db.query(`
      CREATE TABLE IF NOT EXISTS metric_fields (
        metric      text NOT NULL,
        generation  int  NOT NULL,
        name        text NOT NULL,
        type        text NOT NULL,
        field_class text NOT NULL,
        PRIMARY KEY (metric, generation, name)
      )`);
    await db.query(`
      CREATE TABLE IF NOT EXISTS metric_heads (
        metric     text   NOT NULL,
        generation int    NOT NULL,
        position   bigint NOT NULL,
        PRIMARY KEY (metric, generation)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS metric_heads`);
    await db.query(`DROP TABLE IF EXISTS metric_fields`);
    await db.query(`DROP TABLE IF EXISTS metric_points`);
  }
}
