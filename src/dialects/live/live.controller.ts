import { Body, Controller, Delete, Get, Header, HttpCode, Inject, Param, Post, Res, UseFilters, UseInterceptors } from '@nestjs/common';
import type { Response } from 'express';
import { ConfigService } from '@nestjs/config';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiMethodNotAllowedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import {
  DeleteMetricPointsCommand,
  DescribeMetricQuery,
  DropMetricCommand,
  ListMetricDbsQuery,
  ListMetricNamespacesQuery,
  ListMetricsQuery,
  QueryMetricQuery,
  WriteMetricPointsCommand,
  type FieldError,
  type MetricRecord,
  type MetricRef,
} from '../../contexts/streams/metrics/index.js';
import { DecodeJsonBody } from '../../core/http/decode-json-body.interceptor.js';
import { LiveErrorFilter, LiveHttpError } from './live-error.filter.js';
import { DbsDto, DescribeMetricDto, FieldErrorDto, InsertBodyDto, MetricsDto, NamespacesDto, QueryBodyDto, QueryResponseDto } from './live.dto.js';
import { boundedCondition, checkQueryBounds, NsdbParseError, parseNsdb, toMetricSelection, type NsdbStatement } from './nsdb-sql/index.js';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The fields a body must name as strings; every missing one reported, as NSDb's `{field, error}`. */
function requireStrings(body: unknown, fields: readonly string[]): Record<string, string> {
  if (!isObject(body)) throw new LiveHttpError(400, [{ field: 'body', error: `the body must be a JSON object {${fields.join(', ')}}` }]);
  const errors: FieldError[] = [];
  for (const field of fields) {
    const v = body[field];
    if (v === undefined || v === null || v === '') errors.push({ field, error: `Field ${field} is required` });
    else if (typeof v !== 'string') errors.push({ field, error: `Field ${field} must be a string` });
  }
  if (errors.length) throw new LiveHttpError(400, errors);
  return body as Record<string, string>;
}

/** NSDb's HTTP API (radicalbit/NSDb nsdb-http): write points, query them with NSDb SQL, list and describe metrics. */
@ApiTags('live queries (NSDb)')
@Controller()
@UseFilters(LiveErrorFilter)
@UseInterceptors(DecodeJsonBody)
export class LiveController {
  private readonly maxStatementChars: number;

  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(ConfigService) config: ConfigService,
  ) {
    this.maxStatementChars = config.get<number>('LIVE_MAX_STATEMENT_CHARS') ?? 16 * 1024;
  }

  @Get('status')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: 'Liveness, as NSDb answers it: `RUNNING`' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: '`RUNNING`' })
  status(): string {
    return 'RUNNING';
  }

  @Post('data')
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({
    summary: 'Write one point (a "bit") into a metric, created on first write; answered `OK` once durable',
    description: 'Every bad field is reported; nothing is stored when any is bad.',
  })
  @ApiBody({ type: InsertBodyDto })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: '`OK`' })
  @ApiBadRequestResponse({ type: [FieldErrorDto], description: 'One `{field, error}` per bad field' })
  async data(@Body() body: unknown): Promise<string> {
    if (!isObject(body)) throw new LiveHttpError(400, [{ field: 'body', error: 'the body must be a JSON object {db, namespace, metric, bit}' }]);
    const ref = { db: body.db, namespace: body.namespace, metric: body.metric } as MetricRef;
    await this.commands.execute(new WriteMetricPointsCommand(ref, [body.bit], 'bit.'));
    return 'OK';
  }

  @Post('query')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Run an NSDb SQL SELECT over the stored points (or a DELETE FROM … WHERE …)',
    description: '`filters`, `from` and `to` are ANDed with the statement. Aggregates answer as NSDb: `{timestamp, value, dimensions, tags}` with the aggregate in `value` and/or `tags`.',
  })
  @ApiBody({ type: QueryBodyDto })
  @ApiOkResponse({ type: QueryResponseDto, description: 'A SELECT\'s records; `Ok` (text) for a DELETE' })
  @ApiBadRequestResponse({ description: '`statement <q> is invalid: <reason>`, one of NSDb\'s rules, or `[{field, error}]` for a malformed body' })
  @ApiNotFoundResponse({ description: '`Metric m does not exist`' })
  @ApiMethodNotAllowedResponse({ description: '`statement <q> is not a select statement` (an INSERT or DROP)' })
  async query(@Body() body: unknown, @Res({ passthrough: true }) response: Response): Promise<{ records: MetricRecord[] } | string> {
    const { db, namespace, queryString } = requireStrings(body, ['db', 'namespace', 'metric', 'queryString']);
    if (queryString.length > this.maxStatementChars) {
      throw new LiveHttpError(400, `statement is too long: ${queryString.length} chars, at most ${this.maxStatementChars}`);
    }
    const checked = checkQueryBounds(body as Record<string, unknown>);
    if (checked.error !== undefined) throw new LiveHttpError(400, [{ field: checked.error.split(/[ .[]/)[0], error: checked.error }]);
    let statement: NsdbStatement;
    try {
      statement = parseNsdb(queryString);
    } catch (error) {
      if (!(error instanceof NsdbParseError)) throw error;
      // Syntax errors name the statement, as NSDb; its grouping rules answer with their own text.
      throw new LiveHttpError(400, error.position === undefined ? error.reason : `statement ${queryString} is invalid: ${error.message}`);
    }
    // As NSDb, the statement's FROM names the metric queried.
    const ref: MetricRef = { db, namespace, metric: statement.metric };
    const now = Date.now();
    switch (statement.kind) {
      case 'select': {
        const { records } = await this.queries.execute(new QueryMetricQuery(ref, toMetricSelection(statement, checked.bounds, now)));
        return { records };
      }
      case 'delete':
        await this.commands.execute(new DeleteMetricPointsCommand(ref, boundedCondition(statement.where, checked.bounds, now)));
        response.type('text/plain');
        return 'Ok';
      default:
        throw new LiveHttpError(405, `statement ${queryString} is not a select statement`);
    }
  }

  @Get('commands/dbs')
  @ApiOperation({ summary: 'The databases that hold metrics' })
  @ApiOkResponse({ type: DbsDto })
  async dbs(): Promise<DbsDto> {
    return { dbs: await this.queries.execute(new ListMetricDbsQuery()) };
  }

  @Get('commands/:db/namespaces')
  @ApiOperation({ summary: "A database's namespaces" })
  @ApiParam({ name: 'db' })
  @ApiOkResponse({ type: NamespacesDto })
  async namespaces(@Param('db') db: string): Promise<NamespacesDto> {
    return { namespaces: await this.queries.execute(new ListMetricNamespacesQuery(db)) };
  }

  @Get('commands/:db/:namespace/metrics')
  @ApiOperation({ summary: "A namespace's metrics" })
  @ApiParam({ name: 'db' })
  @ApiParam({ name: 'namespace' })
  @ApiOkResponse({ type: MetricsDto })
  async metrics(@Param('db') db: string, @Param('namespace') namespace: string): Promise<MetricsDto> {
    return { metrics: await this.queries.execute(new ListMetricsQuery(db, namespace)) };
  }

  @Get('commands/:db/:namespace/:metric')
  @ApiOperation({ summary: "A metric's fields, discovered from its points (NSDb's schema)" })
  @ApiParam({ name: 'db' })
  @ApiParam({ name: 'namespace' })
  @ApiParam({ name: 'metric' })
  @ApiOkResponse({ type: DescribeMetricDto })
  @ApiNotFoundResponse({ description: '`Metric m does not exist`' })
  describe(@Param('db') db: string, @Param('namespace') namespace: string, @Param('metric') metric: string): Promise<DescribeMetricDto> {
    return this.queries.execute(new DescribeMetricQuery({ db, namespace, metric }));
  }

  @Delete('commands/:db/:namespace/:metric')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: 'Drop a metric: it leaves every list; its events stay in the log, marked deleted' })
  @ApiParam({ name: 'db' })
  @ApiParam({ name: 'namespace' })
  @ApiParam({ name: 'metric' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: '`Ok`' })
  @ApiNotFoundResponse({ description: '`Metric m does not exist`' })
  async drop(@Param('db') db: string, @Param('namespace') namespace: string, @Param('metric') metric: string): Promise<string> {
    await this.commands.execute(new DropMetricCommand({ db, namespace, metric }));
    return 'Ok';
  }

  @Delete('commands/:db/:namespace')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: 'Drop a namespace: every metric of it' })
  @ApiParam({ name: 'db' })
  @ApiParam({ name: 'namespace' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: '`Ok`' })
  async dropNamespace(@Param('db') db: string, @Param('namespace') namespace: string): Promise<string> {
    const metrics: string[] = await this.queries.execute(new ListMetricsQuery(db, namespace));
    for (const metric of metrics) await this.commands.execute(new DropMetricCommand({ db, namespace, metric }));
    return 'Ok';
  }
}
