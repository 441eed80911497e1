import type { FromOffset } from '../../contexts/streams/application/commands.js';
import type { StreamRecord } from '../../contexts/streams/domain/record-stream.js';

/** A request id is echoed as given: a string or a number. */
export type RequestId = string | number | undefined;

export type JetClientMessage =
  | { type: 'subscribe'; streamNames: string[]; fromOffset: FromOffset; requestId: RequestId }
  | { type: 'unsubscribe'; subscriptionId?: number; requestId: RequestId }
  | { type: 'insert'; target: string; records: StreamRecord[]; requestId: RequestId }
  | { type: 'execute'; query: string; requestId: RequestId };

/** A message that cannot be taken: answered with `type` (error, or the request's response type) and the message. */
export class JetProtocolError extends Error {
  constructor(
    message: string,
    readonly replyType: 'error' | 'insert_response' | 'execute_response' = 'error',
    readonly requestId: RequestId = undefined,
  ) {
    super(message);
  }
}

const SUPPORTED = 'Unknown message type. Supported types: subscribe, unsubscribe, insert, execute';

function requestIdOf(message: Record<string, unknown>): RequestId {
  const id = message.requestId;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : undefined;
}

/** The `data` of an insert, validated as JSONJet does (with its messages). */
export function insertRecords(target: unknown, data: unknown, maxRecords: number): { target: string; records: StreamRecord[] } {
  if (!target || typeof target !== 'string') throw new Error('Target stream name is required');
  if (data === undefined || data === null || data === false || data === 0 || data === '') throw new Error('Data is required');
  if (Array.isArray(data)) {
    if (data.length === 0) throw new Error('Data array cannot be empty');
    if (data.length > maxRecords) throw new Error(`Too many records in one insert: ${data.length} (at most ${maxRecords})`);
    for (const item of data) if (!item || typeof item !== 'object' || Array.isArray(item)) throw new Error('All items in data array must be objects');
    return { target, records: data as StreamRecord[] };
  }
  if (typeof data !== 'object') throw new Error('Data must be an object or array of objects');
  return { target, records: [data as StreamRecord] };
}

function fromOffsetOf(value: unknown): FromOffset {
  if (value === undefined || value === null || value === 'latest') return 'latest';
  if (value === 'earliest') return 'earliest';
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  throw new Error('fromOffset must be an offset (an integer ≥ 0), "earliest" or "latest"');
}

/** Parses one text frame of the `/ws` protocol; throws JetProtocolError with the reply to send. */
export function parseJetMessage(text: string, maxRecords: number): JetClientMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new JetProtocolError(`Invalid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new JetProtocolError('Message must be a JSON object with a "type"');
  const message = parsed as Record<string, unknown>;
  const requestId = requestIdOf(message);
  try {
    switch (message.type) {
      case 'subscribe': {
        const names = message.streamName;
        if (!names) throw new Error('Stream name(s) are required');
        let streamNames: string[];
        if (Array.isArray(names)) {
          if (names.length === 0) throw new Error('At least one stream name is required');
          for (const name of names) if (!name || typeof name !== 'string') throw new Error('All stream names must be non-empty strings');
          streamNames = [...new Set(names as string[])];
        } else if (typeof names !== 'string') {
          throw new Error('Stream name must be a string or array of strings');
        } else streamNames = [names];
        return { type: 'subscribe', streamNames, fromOffset: fromOffsetOf(message.fromOffset), requestId };
      }
      case 'unsubscribe': {
        const id = message.subscriptionId;
        if (id === undefined || id === null) return { type: 'unsubscribe', requestId };
        if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new Error('subscriptionId must be a number');
        return { type: 'unsubscribe', subscriptionId: id, requestId };
      }
      case 'insert': {
        try {
          return { type: 'insert', ...insertRecords(message.target, message.data, maxRecords), requestId };
        } catch (error) {
          throw new JetProtocolError((error as Error).message, 'insert_response', requestId);
        }
      }
      case 'execute':
        if (!message.query || typeof message.query !== 'string') throw new JetProtocolError('Query is required and must be a string', 'execute_response', requestId);
        return { type: 'execute', query: message.query, requestId };
      default:
        throw new Error(SUPPORTED);
    }
  } catch (error) {
    if (error instanceof JetProtocolError) throw error;
    throw new JetProtocolError((error as Error).message, 'error', requestId);
  }
}

/**
 * A `data` frame: the record's JSON (serialised once per delivery, shared by every subscriber) inside the
 * subscriber's own small envelope.
 */
export function dataFrame(streamName: string, recordJson: string, subscriptionId: number, requestId: RequestId, offset: number | undefined): string {
  const tail = `${requestId === undefined ? '' : `,"requestId":${JSON.stringify(requestId)}`}${offset === undefined ? '' : `,"offset":${offset}`}}`;
  return `{"type":"data","streamName":${JSON.stringify(streamName)},"data":${recordJson},"subscriptionId":${subscriptionId}${tail}`;
}
