import type { Decider } from '../../../core/actors/decider.js';
import { DomainError } from '../../../core/errors/domain-errors.js';
import type { Event, LogCheckpoint } from '../../../core/event-store/event.js';
import { sinksOf, type PipelinePlan } from '../../../core/query/index.js';
import { looksLikeMetricStreamName, METRIC_STREAM_PREFIX, requireMetricStreamName } from '../metrics/domain/metric.js';

/** The one stream that names every record stream, lookup and flow of the streams context. */
export const CATALOG_STREAM = 'streams-catalog';

/** Names of streams, lookups and flows: a letter or underscore, then letters, digits, underscores. */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export type StreamEntry = { generation: number; createdAt: string; /** `metric`: its records are points (metrics/). */ kind?: 'metric' };
export type LookupEntry = { value: unknown; definedAt: string };
export type FlowEntry = {
  query: string;
  source: string;
  generation: number;
  createdAt: string;
  ttlMs?: number;
  /** The compiled pipeline (absent on flows defined before plans were recorded: those do not run). */
  plan?: PipelinePlan;
  /** The generation of the source stream the flow reads, and the source offset it starts after. */
  sourceGeneration?: number;
  startAfter?: number;
  /** Where the log stood before `startAfter` was read: the flow's projector need not read what is older. */
  logFrom?: LogCheckpoint;
};


export type CatalogState = {
  streams: Record<string, StreamEntry>;
  lookups: Record<string, LookupEntry>;
  flows: Record<string, FlowEntry>;
  /** Each stream (re)created gets a new generation, so a replaced stream starts empty at offset 1. */
  generations: number;
};

export type CreateMode = 'create' | 'replace' | 'if_not_exists';

export type CatalogCommand =
  | { kind: 'create_stream'; name: string; mode: CreateMode; at: string; streamKind?: 'metric' }
  | { kind: 'delete_stream'; name: string }
  | { kind: 'define_lookup'; name: string; value: unknown; replace: boolean; at: string }
  | { kind: 'delete_lookup'; name: string }
  | {
      kind: 'create_flow';
      name: string;
      query: string;
      source: string;
      replace: boolean;
      ttlMs?: number;
      at: string;
      /** The pipeline; its `insert_into` targets must exist too. */
      plan?: PipelinePlan;
      /** An existing flow of this name is kept, and nothing is written. */
      ifNotExists?: boolean;
      /** The source's generation and last offset as the caller read them: the flow starts after that offset. */
      sourceGeneration?: number;
      startAfter?: number;
      logFrom?: LogCheckpoint;
      /** Most flows the catalog may hold. */
      maxFlows?: number;
    }
  /** With `generation`, only that generation of the flow is deleted (a ttl that fires after a replace deletes nothing). */
  | { kind: 'delete_flow'; name: string; generation?: number };

export type CatalogEvent =
  | Event<'StreamCreated', { name: string; generation: number; createdAt: string; replaced: boolean; kind?: 'metric' }>
  | Event<'StreamDeleted', { name: string; generation: number }>
  | Event<'LookupDefined', { name: string; value: unknown; definedAt: string; replaced: boolean }>
  | Event<'LookupDeleted', { name: string }>
  | Event<
      'FlowCreated',
      {
        name: string;
        query: string;
        source: string;
        generation: number;
        createdAt: string;
        ttlMs?: number;
        replaced: boolean;
        plan?: PipelinePlan;
        sourceGeneration?: number;
        startAfter?: number;
        logFrom?: LogCheckpoint;
      }
    >
  | Event<'FlowDeleted', { name: string; generation: number }>;

export class StreamNotFoundError extends DomainError {
  constructor(name: string) {
    super(`Stream '${name}' does not exist`, 'STREAM_NOT_FOUND');
  }
}

function requireName(what: string, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new DomainError(`Invalid ${what} name '${name}'. Names must start with a letter or underscore and contain only letters, numbers, and underscores.`, 'INVALID_NAME');
  }
}

/**
 * A stream (re)created under a name that flows read: each such flow starts over on the new generation,
 * as a new generation of the flow (fresh state: the old windows held records of a stream that is gone),
 * keeping its query, ttl and creation time. Generations after `streamGeneration` are taken in name order.
 */
function followNewSource(state: CatalogState, source: string, streamGeneration: number): CatalogEvent[] {
  const readers = Object.entries(state.flows)
    .filter(([, flow]) => flow.plan && flow.source === source)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return readers.flatMap(([name, flow], i): CatalogEvent[] => [
    { type: 'FlowDeleted', data: { name, generation: flow.generation } },
    {
      type: 'FlowCreated',
      data: { name, query: flow.query, source, generation: streamGeneration + 1 + i, createdAt: flow.createdAt, ttlMs: flow.ttlMs, replaced: true, plan: flow.plan, sourceGeneration: streamGeneration, startAfter: 0 },
    },
  ]);
}

export const catalogDecider: Decider<CatalogState, CatalogCommand, CatalogEvent> = {
  initialState: () => ({ streams: {}, lookups: {}, flows: {}, generations: 0 }),

  decide(command, state) {
    switch (command.kind) {
      case 'create_stream': {
        if (command.streamKind === 'metric') requireMetricStreamName(command.name);
        else requireName('stream', command.name);
        const exists = Object.hasOwn(state.streams, command.name);
        if (exists && command.mode === 'if_not_exists') return [];
        if (exists && command.mode === 'create') {
          throw new DomainError(`Stream '${command.name}' already exists. Use 'create or replace stream ${command.name}' to replace it.`, 'STREAM_EXISTS');
        }
        const created: CatalogEvent = {
          type: 'StreamCreated',
          data: { name: command.name, generation: state.generations + 1, createdAt: command.at, replaced: exists, ...(command.streamKind ? { kind: command.streamKind } : {}) },
        };
        const replacedStream: CatalogEvent[] = exists ? [{ type: 'StreamDeleted', data: { name: command.name, generation: state.streams[command.name].generation } }] : [];
        return [...replacedStream, created, ...followNewSource(state, command.name, state.generations + 1)];
      }
      case 'delete_stream': {
        if (looksLikeMetricStreamName(command.name)) requireMetricStreamName(command.name);
        else requireName('stream', command.name);
        const entry = state.streams[command.name];
        if (!Object.hasOwn(state.streams, command.name)) throw new StreamNotFoundError(command.name);
        return [{ type: 'StreamDeleted', data: { name: command.name, generation: entry.generation } }];
      }
      case 'define_lookup': {
        requireName('lookup', command.name);
        const exists = Object.hasOwn(state.lookups, command.name);
        if (exists && !command.replace) {
          throw new DomainError(`Lookup '${command.name}' already exists. Use 'create or replace lookup ${command.name} = <value>' to replace it.`, 'LOOKUP_EXISTS');
        }
        return [{ type: 'LookupDefined', data: { name: command.name, value: command.value, definedAt: command.at, replaced: exists } }];
      }
      case 'delete_lookup':
        if (!Object.hasOwn(state.lookups, command.name)) throw new DomainError(`Lookup '${command.name}' does not exist`, 'LOOKUP_NOT_FOUND');
        return [{ type: 'LookupDeleted', data: { name: command.name } }];
      case 'create_flow': {
        requireName('flow', command.name);
        const existing = Object.hasOwn(state.flows, command.name) ? state.flows[command.name] : undefined;
        if (existing && command.ifNotExists) return [];
        if (existing && !command.replace) {
          throw new DomainError(`Flow '${command.name}' already exists. Use 'create or replace flow ${command.name}' to replace it.`, 'FLOW_EXISTS');
        }
        if (!Object.hasOwn(state.streams, command.source)) throw new StreamNotFoundError(command.source);
        if (command.plan) {
          for (const target of sinksOf(command.plan)) if (!Object.hasOwn(state.streams, target)) throw new StreamNotFoundError(target);
        }
        if (!existing && command.maxFlows !== undefined && Object.keys(state.flows).length >= command.maxFlows) {
          throw new DomainError(`Too many flows: at most ${command.maxFlows} may run at once`, 'TOO_MANY_FLOWS');
        }
        const sourceGeneration = state.streams[command.source].generation;
        const data = { name: command.name, query: command.query, source: command.source, generation: state.generations + 1, createdAt: command.at, ttlMs: command.ttlMs, replaced: !!existing };
        const created: CatalogEvent = {
          type: 'FlowCreated',
          data: command.plan
            ? {
                ...data,
                plan: command.plan,
                sourceGeneration,
                // An offset read from another generation of the source says nothing about this one.
                ...(command.sourceGeneration === sourceGeneration ? { startAfter: command.startAfter ?? 0, logFrom: command.logFrom } : { startAfter: 0 }),
              }
            : data,
        };
        return existing ? [{ type: 'FlowDeleted', data: { name: command.name, generation: existing.generation } }, created] : [created];
      }
      case 'delete_flow': {
        const existing = Object.hasOwn(state.flows, command.name) ? state.flows[command.name] : undefined;
        if (!existing) throw new DomainError(`Flow '${command.name}' does not exist`, 'FLOW_NOT_FOUND');
        if (command.generation !== undefined && command.generation !== existing.generation) return [];
        return [{ type: 'FlowDeleted', data: { name: command.name, generation: existing.generation } }];
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'StreamCreated': {
        const { name, generation, createdAt, kind } = event.data;
        const entry: StreamEntry = kind ? { generation, createdAt, kind } : { generation, createdAt };
        return { ...state, generations: Math.max(state.generations, generation), streams: { ...state.streams, [name]: entry } };
      }
      case 'StreamDeleted': {
        const { [event.data.name]: _gone, ...streams } = state.streams;
        return { ...state, streams };
      }
      case 'LookupDefined':
        return { ...state, lookups: { ...state.lookups, [event.data.name]: { value: event.data.value, definedAt: event.data.definedAt } } };
      case 'LookupDeleted': {
        const { [event.data.name]: _gone, ...lookups } = state.lookups;
        return { ...state, lookups };
      }
      case 'FlowCreated': {
        const { name, query, source, generation, createdAt, ttlMs, plan, sourceGeneration, startAfter, logFrom } = event.data;
        const entry: FlowEntry = { query, source, generation, createdAt, ttlMs, ...(plan ? { plan, sourceGeneration, startAfter, logFrom } : {}) };
        return { ...state, generations: Math.max(state.generations, generation), flows: { ...state.flows, [name]: entry } };
      }
      case 'FlowDeleted': {
        const { [event.data.name]: _gone, ...flows } = state.flows;
        return { ...state, flows };
      }
      default:
        return state;
    }
  },
};

/** The log stream holding one generation of a named record stream; offsets are its positions. */
export function recordStreamId(name: string, generation: number): string {
  // Metric streams (only their names hold dots) get a prefix of their own: their projector selects them by it.
  if (looksLikeMetricStreamName(name)) return `${METRIC_STREAM_PREFIX}${name}:${generation}`;
  return `stream-records:${name}:${generation}`;
}
