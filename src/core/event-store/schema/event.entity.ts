import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** One row per event of the append-only log. */
@Entity({ name: 'events' })
@Index('events_stream_position', ['streamId', 'streamPosition'], { unique: true })
@Index('events_tail_order', ['transactionId', 'globalPosition'])
@Index('events_append_key', ['streamId', 'appendKey'], { unique: true, where: 'append_key IS NOT NULL' })
export class EventRow {
  @PrimaryGeneratedColumn('increment', { name: 'global_position', type: 'bigint' })
  globalPosition: string;

  /** xid8 in the database (see the migration); TypeORM has no such type, so it maps it as text. */
  @Column({ name: 'transaction_id', type: 'text', insert: false, update: false })
  transactionId: string;

  @Column({ name: 'stream_id', type: 'text' })
  streamId: string;

  @Column({ name: 'stream_position', type: 'bigint' })
  streamPosition: string;

  @Column({ type: 'text' })
  type: string;

  @Column({ type: 'jsonb' })
  data: unknown;

  @Column({ type: 'jsonb', default: () => `'{}'::jsonb` })
  metadata: Record<string, unknown>;

  /** Which server process wrote it, so a tail can skip what its own process already published. */
  @Column({ name: 'node_id', type: 'text', default: '' })
  nodeId: string;

  /** The caller's idempotency key, on the first row of each stream append (unique per stream where set). */
  @Column({ name: 'append_key', type: 'text', nullable: true })
  appendKey: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
