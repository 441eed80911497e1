import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The newest snapshot of one stream's state for one reader (an aggregate, a read model). A cache: the log stays the truth. */
@Entity({ name: 'snapshots' })
export class SnapshotRow {
  @PrimaryColumn({ type: 'text' })
  kind: string;

  @PrimaryColumn({ name: 'stream_id', type: 'text' })
  streamId: string;

  /** The state folds every event of the stream up to and including this position, and none after. */
  @Column({ name: 'stream_position', type: 'bigint' })
  streamPosition: string;

  @Column({ type: 'jsonb' })
  state: unknown;

  /** The version of the codec that encoded `state`: a snapshot of another version is not decoded. */
  @Column({ type: 'int', default: 0 })
  version: number;

  @Column({ name: 'taken_at', type: 'timestamptz', default: () => 'now()' })
  takenAt: Date;
}
