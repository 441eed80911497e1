import type { Row } from '../database/database.js';
import type { RecordedEvent } from './event.js';

export const PAYLOAD_COLUMNS = ['stream_id', 'stream_position', 'type', 'data', 'metadata', 'created_at'];
export const EVENT_COLUMNS = `global_position, transaction_id::text AS transaction_id, ${PAYLOAD_COLUMNS.join(', ')}`;

export function toRecorded(row: Row): RecordedEvent {
  return {
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamId: row.stream_id,
    streamPosition: Number(row.stream_position),
    globalPosition: Number(row.global_position),
    transactionId: row.transaction_id,
    recordedAt: row.created_at,
  };
}
