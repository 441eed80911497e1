import { Body, Controller, Get, HttpCode, Inject, Post, UseFilters, UseInterceptors } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBadRequestResponse, ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CountLiveQueriesQuery, InsertRecordsCommand, ListFlowsQuery, ListStreamsQuery } from '../../contexts/streams/application/commands.js';
import { DecodeJsonBody } from '../../core/http/decode-json-body.interceptor.js';
import { JetStatementError } from './jet-errors.js';
import { JetErrorFilter } from './jet-error.filter.js';
import { JetExecutor } from './jet-executor.js';
import { insertRecords } from './jet-protocol.js';
import { JetConnections } from './jet.gateway.js';
import { ExecuteRequestDto, ExecuteResponseDto, InsertRequestDto, InsertResponseDto, JetFailureDto, StatusResponseDto, StreamsResponseDto } from './jet.dto.js';

const VERSION = '0.1.0';

function fieldOf(body: unknown, name: string): unknown {
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)[name] : undefined;
}

@ApiTags('streams (JSONJet)')
@Controller('api')
@UseFilters(JetErrorFilter)
@UseInterceptors(DecodeJsonBody)
export class JetController {
  private readonly maxRecords: number;

  constructor(
    @Inject(JetExecutor) private readonly executor: JetExecutor,
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(JetConnections) private readonly connections: JetConnections,
    @Inject(ConfigService) config: ConfigService,
  ) {
    this.maxRecords = config.get<number>('MAX_INSERT_RECORDS')!;
  }

  @Post('execute')
  @HttpCode(200)
  @ApiOperation({ summary: 'Run JET statements', description: 'Live queries and subscriptions need the /ws socket and are refused here.' })
  @ApiBody({ type: ExecuteRequestDto })
  @ApiOkResponse({ type: ExecuteResponseDto })
  @ApiBadRequestResponse({ type: JetFailureDto, description: 'QUERY_REQUIRED, PARSE_ERROR (with line and column), STREAM_NOT_FOUND, …' })
  async execute(@Body() body: unknown): Promise<Record<string, unknown>> {
    const query = fieldOf(body, 'query');
    if (!query || typeof query !== 'string') throw new JetStatementError({ code: 'QUERY_REQUIRED', message: 'Query is required' });
    const result = await this.executor.execute(query);
    return { ...result, success: true, result };
  }

  @Post('insert')
  @HttpCode(200)
  @ApiOperation({ summary: 'Insert a record or a batch (all of it or none), answered once durable' })
  @ApiBody({ type: InsertRequestDto })
  @ApiOkResponse({ type: InsertResponseDto })
  @ApiBadRequestResponse({ type: JetFailureDto })
  async insert(@Body() body: unknown): Promise<InsertResponseDto> {
    let parsed;
    try {
      parsed = insertRecords(fieldOf(body, 'target'), fieldOf(body, 'data'), this.maxRecords);
    } catch (error) {
      throw new JetStatementError({ code: 'INVALID_INSERT', message: (error as Error).message });
    }
    const { count, firstOffset, lastOffset } = await this.commands.execute(new InsertRecordsCommand(parsed.target, parsed.records));
    return { success: true, count, target: parsed.target, message: `${count} record(s) inserted successfully into '${parsed.target}'`, firstOffset, lastOffset };
  }

  @Get('streams')
  @ApiOperation({ summary: 'Names of the streams' })
  @ApiOkResponse({ type: StreamsResponseDto })
  async streams(): Promise<StreamsResponseDto> {
    return { streams: await this.queries.execute(new ListStreamsQuery()) };
  }

  @Get('status')
  @ApiOperation({ summary: "This server's status" })
  @ApiOkResponse({ type: StatusResponseDto })
  async status(): Promise<StatusResponseDto> {
    const [streams, liveQueries, flows] = await Promise.all([
      this.queries.execute(new ListStreamsQuery()),
      this.queries.execute(new CountLiveQueriesQuery()),
      this.queries.execute(new ListFlowsQuery()),
    ]);
    // JSONJet counts its running flows; live queries of this server's sockets run too.
    const activeQueries = liveQueries + flows.filter((f) => f.status !== 'paused').length;
    return { status: 'running', version: VERSION, streams: streams.length, activeQueries, wsConnections: this.connections.count, uptime: process.uptime() };
  }
}
