import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  CreateFlowCommand,
  CreateStreamCommand,
  DeleteFlowCommand,
  ListFlowsQuery,
  DefineLookupCommand,
  DeleteLookupCommand,
  DeleteStreamCommand,
  FlushStreamCommand,
  InsertRecordsCommand,
  ListLookupsQuery,
  ListStreamsQuery,
  ListSubscriptionsQuery,
  LogErrorCommand,
  StreamInfoQuery,
} from '../../contexts/streams/application/commands.js';
import type { CreateMode } from '../../contexts/streams/domain/catalog.js';
import type { PipelinePlan } from '../../core/query/index.js';
import { JetStatementError, toJetError } from './jet-errors.js';
import { parseJet, type JetStatement } from './parser/index.js';

/** What a statement answers: JSONJet's result object (`success`, `type`, `message`, its fields). */
export type JetResult = { success: true; type: string; message: string } & Record<string, unknown>;

/** What only a socket can do: subscriptions and live queries stream to their connection. */
export interface JetSocketSession {
  subscribe(streamName: string): Promise<{ streamName: string; subscriptionId: number }>;
  unsubscribe(subscriptionId?: number): { subscriptionId?: number; streamName?: string; unsubscribed?: { subscriptionId: number; streamName: string }[] };
  startLiveQuery(plan: PipelinePlan, text: string): Promise<{ subscriptionId: number }>;
}

const MODES: Record<string, CreateMode> = { create: 'create', or_replace: 'replace', if_not_exists: 'if_not_exists' };

function listing(what: string, items: string[]): string {
  return `Found ${items.length} ${what}${items.length > 0 ? `:\n${items.map((line, i) => `${i + 1}. ${line}`).join('\n')}` : ''}`;
}

/** Runs JET statements through the streams context's command and query buses. */
@Injectable()
export class JetExecutor {
  private readonly logger = new Logger(JetExecutor.name);
  private readonly maxStatementChars: number;
  private readonly maxRecords: number;

  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(ConfigService) config: ConfigService,
  ) {
    this.maxStatementChars = config.get<number>('MAX_STATEMENT_CHARS')!;
    this.maxRecords = config.get<number>('MAX_INSERT_RECORDS')!;
  }

  /**
   * Runs every statement of `query` in order; the answer of one statement is its result, of several a
   * `script` result listing each. The first failure stops the rest (and is logged to `_log`).
   */
  async execute(query: string, session?: JetSocketSession): Promise<JetResult> {
    try {
      if (query.length > this.maxStatementChars * 4) throw new JetStatementError({ code: 'QUERY_TOO_LARGE', message: `Query too large: ${query.length} characters (at most ${this.maxStatementChars * 4})` });
      // Names only, to tell a lookup from a field while parsing: what this process knows, no read per statement.
      const lookups = await this.queries.execute(new ListLookupsQuery(false));
      const statements = parseJet(query, { maxStatementLength: this.maxStatementChars, lookups: (name) => Object.hasOwn(lookups, name) });
      if (statements.length === 0) return { success: true, type: 'empty', message: 'Empty statement' };
      const results: JetResult[] = [];
      for (const statement of statements) results.push(await this.run(statement, session));
      if (results.length === 1) return results[0];
      return { success: true, type: 'script', message: `${results.length} statement(s) executed`, results };
    } catch (error) {
      const failure = toJetError(error);
      if (failure.status >= 500 && failure.error.code === 'COMMAND_FAILED') this.logger.error(`statement failed: ${(error as Error).stack ?? String(error)}`);
      this.record(failure, query);
      throw failure;
    }
  }

  /** Every error goes to `_log` too; a failure to log is only logged here (never a loop). */
  private record(failure: JetStatementError, query: string): void {
    if (failure.status === 503) return;
    const { code, message, line, column } = failure.error;
    this.commands.execute(new LogErrorCommand(code, message, query.slice(0, 4096), line === undefined ? {} : { line, column })).catch((error: unknown) => {
      this.logger.warn(`could not log to _log: ${(error as Error).message}`);
    });
  }

  private async run(statement: JetStatement, session?: JetSocketSession): Promise<JetResult> {
    switch (statement.kind) {
      case 'create_stream': {
        const { created, replaced } = await this.commands.execute(new CreateStreamCommand(statement.name, MODES[statement.mode]));
        const name = statement.name;
        if (!created) return { success: true, type: 'stream', message: `Stream '${name}' already exists`, streamName: name };
        if (replaced) return { success: true, type: 'command', message: `Stream '${name}' replaced successfully`, result: { streamName: name }, streamName: name };
        return { success: true, type: 'stream', message: `Stream '${name}' created successfully`, streamName: name };
      }
      case 'delete_stream':
        await this.commands.execute(new DeleteStreamCommand(statement.name));
        return { success: true, type: 'command', message: `Stream '${statement.name}' deleted successfully`, result: { streamName: statement.name } };
      case 'insert': {
        if (statement.records.length > this.maxRecords) {
          throw new JetStatementError({ code: 'TOO_MANY_RECORDS', message: `Too many records in one insert: ${statement.records.length} (at most ${this.maxRecords})` });
        }
        const { count, firstOffset, lastOffset } = await this.commands.execute(new InsertRecordsCommand(statement.stream, statement.records));
        return {
          success: true,
          type: 'command',
          message: `Inserted ${count} item(s) into stream '${statement.stream}'`,
          result: { streamName: statement.stream, count, firstOffset, lastOffset },
        };
      }
      case 'create_lookup': {
        if (statement.mode === 'if_not_exists') {
          const existing = await this.queries.execute(new ListLookupsQuery());
          if (Object.hasOwn(existing, statement.name)) return { success: true, type: 'lookup', message: `Lookup '${statement.name}' already exists`, lookupName: statement.name };
        }
        const { replaced } = await this.commands.execute(new DefineLookupCommand(statement.name, statement.value, statement.mode !== 'create'));
        const verb = replaced ? 'replaced' : 'created';
        return { success: true, type: 'lookup', message: `Lookup '${statement.name}' ${verb} successfully`, lookupName: statement.name, lookupValue: statement.value };
      }
      case 'delete_lookup':
        await this.commands.execute(new DeleteLookupCommand(statement.name));
        return { success: true, type: 'command', message: `Lookup '${statement.name}' deleted successfully`, result: { lookupName: statement.name } };
      case 'list':
        return this.list(statement.target);
      case 'info': {
        if (statement.name === undefined) {
          const names = await this.queries.execute(new ListStreamsQuery());
          const info = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await this.queries.execute(new StreamInfoQuery(n))] as const)));
          return { success: true, type: 'command', message: 'Stream information retrieved', result: { info } };
        }
        const info = await this.queries.execute(new StreamInfoQuery(statement.name));
        return { success: true, type: 'command', message: `Stream '${statement.name}' info retrieved`, result: { info } };
      }
      case 'flush': {
        const { flushed } = await this.commands.execute(new FlushStreamCommand(statement.stream));
        return { success: true, type: 'command', message: `Stream '${statement.stream}' flushed successfully`, result: { streamName: statement.stream, flushedQueries: flushed } };
      }
      case 'subscribe': {
        const subscription = await this.requireSocket(session, 'subscribe').subscribe(statement.stream);
        return { success: true, type: 'command', message: `Subscribed to stream '${statement.stream}' with ID ${subscription.subscriptionId}`, result: subscription };
      }
      case 'unsubscribe': {
        const result = this.requireSocket(session, 'unsubscribe').unsubscribe(statement.subscriptionId);
        return { success: true, type: 'command', message: statement.subscriptionId === undefined ? `Unsubscribed from ${result.unsubscribed?.length ?? 0} subscription(s)` : `Unsubscribed from subscription ${statement.subscriptionId}`, result };
      }
      case 'query': {
        const socket = this.requireSocket(session, 'a live query');
        await this.queries.execute(new StreamInfoQuery(statement.pipeline.source)); // its source must exist
        const { subscriptionId } = await socket.startLiveQuery(statement.pipeline, statement.text);
        return { success: true, type: 'query', message: `Live query started on stream '${statement.pipeline.source}' (subscription ${subscriptionId})`, subscriptionId, streamName: statement.pipeline.source };
      }
      case 'create_flow': {
        const { name, pipeline, query, ttlMs } = statement;
        const { created, sourceName } = await this.commands.execute(new CreateFlowCommand(name, pipeline, query, MODES[statement.mode], ttlMs));
        const ttlSeconds = ttlMs === undefined ? null : ttlMs / 1000;
        if (!created) return { success: true, type: 'flow', message: `Flow '${name}' already exists`, flowName: name, ttlSeconds, sourceName };
        return { success: true, type: 'flow', message: `Flow '${name}' created`, flowName: name, ttlSeconds, sourceName };
      }
      case 'delete_flow':
        await this.commands.execute(new DeleteFlowCommand(statement.name));
        return { success: true, type: 'command', message: `Flow '${statement.name}' deleted successfully`, result: { flowName: statement.name } };
    }
  }

  private async list(target: string): Promise<JetResult> {
    switch (target) {
      case 'lookups': {
        const lookups = await this.queries.execute(new ListLookupsQuery());
        return { success: true, type: 'command', message: listing('lookup(s)', Object.entries(lookups).map(([n, v]) => `${n} = ${JSON.stringify(v).slice(0, 50)}`)), result: { lookups } };
      }
      case 'subscriptions': {
        const subscriptions = await this.queries.execute(new ListSubscriptionsQuery());
        return { success: true, type: 'command', message: listing('active subscription(s)', subscriptions.map((s) => `${s.streamName}: ${s.subscribers} subscriber(s)`)), result: { subscriptions } };
      }
      case 'flows': {
        const flows = await this.queries.execute(new ListFlowsQuery());
        const lines = flows.map((f) => `${f.flowName}: ${f.sourceName} -> ${f.sinks.join(', ')}${f.ttlSeconds !== undefined ? ` (TTL: ${f.ttlSeconds}s)` : ''}${f.status === 'paused' ? ' [paused]' : ''}`);
        return { success: true, type: 'command', message: listing('active flow(s)', lines), result: { flows } };
      }
      default: {
        const streams = await this.queries.execute(new ListStreamsQuery());
        return { success: true, type: 'command', message: listing('stream(s)', streams), result: { streams } };
      }
    }
  }

  private requireSocket(session: JetSocketSession | undefined, what: string): JetSocketSession {
    if (session) return session;
    throw new JetStatementError({ code: 'SOCKET_REQUIRED', message: `${what[0].toUpperCase()}${what.slice(1)} streams its records to a WebSocket connection: send it as an execute message on /ws` });
  }
}
