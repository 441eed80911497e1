import { Command, Query } from '@nestjs/cqrs';
import type { CreateMode } from '../domain/catalog.js';
import type { StreamRecord } from '../domain/record-stream.js';

export class CreateStreamCommand extends Command<{ name: string; created: boolean; replaced: boolean }> {
  constructor(
    readonly name: string,
    readonly mode: CreateMode = 'create',
    /** `metric`: a metric stream `{db}.{namespace}.{metric}` whose records are points (see metrics/). */
    readonly streamKind?: 'metric',
  ) {
    super();
  }
}

export class DeleteStreamCommand extends Command<{ name: string }> {
  constructor(readonly name: string) {
    super();
  }
}

/** Where an insert landed: the offsets of its first and last records. */
export type InsertOutcome = {
  count: number;
  firstOffset: number;
  lastOffset: number;
  /** Where the insert's last event stands in the log (for read-your-writes waits on projectors). */
  logPosition?: import('../../../core/event-store/event.js').LogCheckpoint;
};

/** All of `records` are appended to the stream in one transaction, or none. */
export class InsertRecordsCommand extends Command<InsertOutcome> {
  constructor(
    readonly name: string,
    readonly records: readonly StreamRecord[],
  ) {
    super();
  }
}

export class DefineLookupCommand extends Command<{ name: string; replaced: boolean }> {
  constructor(
    readonly name: string,
    readonly value: unknown,
    readonly replace: boolean,
  ) {
    super();
  }
}

export class DeleteLookupCommand extends Command<{ name: string }> {
  constructor(readonly name: string) {
    super();
  }
}

/** Appends an error to the `_log` stream (created on first use): `{timestamp, level, code, message, query}`. */
export class LogErrorCommand extends Command<void> {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly query: string | null = null,
    readonly details: Record<string, unknown> = {},
  ) {
    super();
  }
}

export class ListStreamsQuery extends Query<string[]> {}

/** `fresh`: read the catalog's newest events first (another server's just-made lookup); else what this process knows. */
export class ListLookupsQuery extends Query<Record<string, unknown>> {
  constructor(readonly fresh = true) {
    super();
  }
}

export type StreamInfo = {
  name: string;
  recordCount: number;
  firstOffset: number | null;
  lastOffset: number | null;
  createdAt: string;
  userSubscriberCount: number;
  flowSubscriberCount: number;
  totalSubscriberCount: number;
};

export class StreamInfoQuery extends Query<StreamInfo> {
  constructor(readonly name: string) {
    super();
  }
}

export type SubscriptionInfo = { streamName: string; subscribers: number };

/** Subscriptions this process holds, per stream. */
export class ListSubscriptionsQuery extends Query<SubscriptionInfo[]> {}

/** A record as a subscriber receives it: its offset (stream position) in its stream, and its data. */
export type DeliveredRecord = { streamName: string; offset: number; data: StreamRecord; key: object; /** Commit time, ms. */ time: number };

export type FromOffset = number | 'earliest' | 'latest';

export type RecordSubscriptionHandle = { streamName: string; close(): void };

/**
 * Every record of the stream after `from` (an offset; `earliest` = all; `latest` = only new ones), then
 * live, in offset order with no gap or duplicate. `key` is the same object for every subscriber of one
 * delivery, so a dialect can encode the record once for all of them.
 */
export class SubscribeToStreamQuery extends Query<RecordSubscriptionHandle> {
  constructor(
    readonly name: string,
    readonly from: FromOffset,
    readonly onRecord: (record: DeliveredRecord) => void,
  ) {
    super();
  }
}

/** Emits every open window of the live queries (and, later, flows) over a stream. */
export class FlushStreamCommand extends Command<{ streamName: string; flushed: number }> {
  constructor(readonly name: string) {
    super();
  }
}

export type LiveQueryOutput = { record: unknown; offset: number | undefined };
export type LiveQueryHandle = { streamName: string; close(): void };

/**
 * Runs a query plan over its source stream's new records until closed: each output record goes to
 * `onOutput`; `insert_into` outputs are inserted into their stream; a record that fails goes to `onError`.
 */
export class StartLiveQueryQuery extends Query<LiveQueryHandle> {
  constructor(
    readonly plan: import('../../../core/query/index.js').PipelinePlan,
    readonly onOutput: (output: LiveQueryOutput) => void,
    readonly onError: (message: string, offset?: number) => void,
  ) {
    super();
  }
}

/** How many live queries this process runs. */
export class CountLiveQueriesQuery extends Query<number> {}

/**
 * Defines a durable flow: `plan` runs over its source stream's records inserted from now on, its
 * `insert_into` records written exactly once, by one process at a time, until deleted or its ttl passes.
 */
export class CreateFlowCommand extends Command<{ name: string; created: boolean; replaced: boolean; sourceName: string }> {
  constructor(
    readonly name: string,
    readonly plan: import('../../../core/query/index.js').PipelinePlan,
    readonly query: string,
    readonly mode: CreateMode = 'create',
    readonly ttlMs?: number,
  ) {
    super();
  }
}

export class DeleteFlowCommand extends Command<{ name: string }> {
  constructor(readonly name: string) {
    super();
  }
}

export type FlowInfo = {
  flowName: string;
  sourceName: string;
  query: string;
  sinks: string[];
  createdAt: string;
  ttlSeconds?: number;
  expiresAt?: string;
  /** `paused`: a bound was reached (see `_log`); the flow reads on but writes nothing until replaced. */
  status: 'active' | 'paused';
  error?: string;
};

export class ListFlowsQuery extends Query<FlowInfo[]> {}
