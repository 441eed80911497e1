import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One row per projector: its version and the log checkpoint its read model reflects. */
@Entity({ name: 'projection_checkpoints' })
export class ProjectionCheckpointRow {
  @PrimaryColumn({ type: 'text' })
  name: string;

  @Column({ type: 'integer' })
  version: number;

  /** xid8 in the database (see the migration); TypeORM has no such type. */
  @Column({ name: 'transaction_id', type: 'text' })
  transactionId: string;

  @Column({ name: 'global_position', type: 'bigint', default: 0 })
  globalPosition: string;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
