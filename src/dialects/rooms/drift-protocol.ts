import { decode as decodeCbor, encode as encodeCbor } from 'cborg';
import type { PushAction } from '../../contexts/rooms/domain/room.commands.js';
import type { Frame } from '../../core/realtime/socket-guard.js';
import { fromStorable, toStorable, ValueError } from './json-value.js';

/** DriftDB's client → server messages, validated. */
export type ClientMessage =
  | { type: 'push'; key: string; value: unknown; action: PushAction; binary: boolean }
  /** `seq: null` asks for no history (the client's `replay: false`); a missing seq means 0. */
  | { type: 'get'; key: string; seq: number | null }
  | { type: 'ping'; nonce?: unknown };

/** DriftDB's server → client messages. Values are in stored form (see json-value.ts). */
export type ServerMessage =
  | { type: 'push'; key: string; value: unknown; seq: number; binary?: boolean }
  | { type: 'init'; key: string; data: readonly Readonly<{ value: unknown; seq: number; binary?: boolean }>[] }
  | { type: 'stream_size'; key: string; size: number }
  | { type: 'pong'; nonce: unknown }
  | { type: 'error'; message: string };

export class ProtocolError extends Error {}

// The official client's CBOR encoder wraps a Uint8Array in tag 64 (RFC 8746): unwrap it to the bytes.
const CBOR_TAGS: Record<number, (decode: () => unknown) => unknown> = { 64: (decode) => decode() };

export function decodeFrame(data: Buffer | string, binary: boolean): unknown {
  try {
    if (binary) return decodeCbor(data as Buffer, { tags: CBOR_TAGS as never });
    return JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (error) {
    throw new ProtocolError(`could not decode ${binary ? 'CBOR' : 'JSON'} message: ${(error as Error).message}`);
  }
}

export function parseClientMessage(raw: unknown): ClientMessage {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ProtocolError('message must be an object');
  const msg = raw as Record<string, unknown>;
  switch (msg.type) {
    case 'push': {
      const key = requireKey(msg);
      const action = parseAction(msg.action);
      try {
        const { value, binary } = toStorable(msg.value);
        return { type: 'push', key, value, action, binary };
      } catch (error) {
        if (error instanceof ValueError) throw new ProtocolError(`invalid value: ${error.message}`);
        throw error;
      }
    }
    case 'get': {
      const key = requireKey(msg);
      if (msg.seq === null) return { type: 'get', key, seq: null };
      const seq = msg.seq ?? 0;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) throw new ProtocolError('get: seq must be a non-negative integer');
      return { type: 'get', key, seq };
    }
    case 'ping':
      return { type: 'ping', nonce: msg.nonce ?? null };
    case undefined:
      throw new ProtocolError('message has no type');
    default:
      throw new ProtocolError(`unknown message type: ${JSON.stringify(msg.type)?.slice(0, 64)}`);
  }
}

function requireKey(msg: Record<string, unknown>): string {
  if (typeof msg.key !== 'string') throw new ProtocolError(`${String(msg.type)}: key must be a string`);
  if (msg.key.length > 1024) throw new ProtocolError(`${String(msg.type)}: key is longer than 1024 characters`);
  try {
    toStorable(msg.key);
  } catch (error) {
    throw new ProtocolError(`${String(msg.type)}: invalid key: ${(error as Error).message}`);
  }
  return msg.key;
}

function parseAction(raw: unknown): PushAction {
  const type = typeof raw === 'string' ? raw : (raw as { type?: unknown } | null)?.type;
  switch (type) {
    case 'relay':
    case 'append':
    case 'replace':
      return { type };
    case 'compact': {
      const seq = (raw as { seq?: unknown }).seq;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) throw new ProtocolError('push: compact needs an integer seq ≥ 1');
      return { type, seq };
    }
    default:
      throw new ProtocolError('push: action must be one of relay, append, replace, compact');
  }
}

/**
 * Encodes once into bytes that can go to many sockets (JSON as a text frame, CBOR as binary); byte strings
 * come back as bytes for CBOR readers and as number arrays for JSON readers.
 */
export function encodeFrame(message: ServerMessage, cbor: boolean): Frame {
  const wire = toWire(message, cbor);
  return cbor ? { data: encodeCbor(wire), binary: true } : { data: Buffer.from(JSON.stringify(wire)), binary: false };
}

function toWire(message: ServerMessage, cbor: boolean): object {
  switch (message.type) {
    case 'push': {
      // Field by field (no rest/spread): this runs once per broadcast and per format.
      const { key, value, seq, binary } = message;
      return { type: 'push', key, value: binary ? fromStorable(value, cbor) : value, seq };
    }
    case 'init':
      return {
        type: 'init',
        key: message.key,
        data: message.data.map(({ value, seq, binary }) => ({ value: binary ? fromStorable(value, cbor) : value, seq })),
      };
    default:
      return message;
  }
}
