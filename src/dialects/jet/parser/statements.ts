import type { JsonObject, JsonValue, PipelinePlan } from '../../../core/query/index.js';
import type { SourcePosition } from './errors.js';

/** `create` (fails if it exists), `create or replace`, `create if not exists`. */
export type CreateMode = 'create' | 'or_replace' | 'if_not_exists';
export type ListTarget = 'streams' | 'flows' | 'lookups' | 'subscriptions';

interface Base {
  /** Where the statement starts. */
  at: SourcePosition;
  /** The statement's own source text (without the `;`). */
  text: string;
}

export type JetStatement =
  | (Base & { kind: 'create_stream'; name: string; mode: CreateMode })
  | (Base & { kind: 'delete_stream'; name: string })
  | (Base & {
      kind: 'create_flow';
      name: string;
      mode: CreateMode;
      /** `ttl(1h)` / `ttl("1h")`, in milliseconds. */
      ttlMs?: number;
      pipeline: PipelinePlan;
      /** The pipeline's source text (after `as`), e.g. to store beside the flow. */
      query: string;
    })
  | (Base & { kind: 'delete_flow'; name: string })
  | (Base & { kind: 'create_lookup'; name: string; mode: CreateMode; value: JsonValue })
  | (Base & { kind: 'delete_lookup'; name: string })
  | (Base & { kind: 'insert'; stream: string; records: JsonObject[] })
  | (Base & { kind: 'flush'; stream: string })
  | (Base & { kind: 'list'; target: ListTarget })
  | (Base & { kind: 'info'; name?: string })
  | (Base & { kind: 'subscribe'; stream: string })
  | (Base & { kind: 'unsubscribe'; subscriptionId?: number })
  /** An anonymous pipeline: a live query over its source stream. */
  | (Base & { kind: 'query'; pipeline: PipelinePlan });

export type JetStatementKind = JetStatement['kind'];
