import { All, Catch, Controller, Get, HttpException, Inject, Logger, Options, Post, Req, Res, UseFilters, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { SqlConflictError, SqlError } from '../../contexts/collections/domain/sql-error.js';
import type { SqlWriter } from '../../contexts/collections/documents/table-policies.js';
import { isQuery, type Statement } from '../../contexts/collections/query/ast.js';
import { ClosedError, ConflictError, OverloadedError, UnavailableError } from '../../core/errors/domain-errors.js';
import { SqlAuthenticator, WWW_AUTHENTICATE } from './sql-auth.js';
import { contentType, negotiate, parseMultipart, renderResult, type MediaType } from './sql-http.js';
import { sqlReport } from './sql-report.js';
import { SqlRequestError, SqlRunner, SqlSyntaxError } from './sql-runner.js';
import { SQL_DIALECT_SETTINGS, type SqlDialectSettings } from './sql-settings.js';

const ALLOW = 'OPTIONS, GET, POST';

/** An answer decided before any SQL ran: a status, maybe headers and a text/plain body. */
class Answer extends Error {
  constructor(
    readonly status: number,
    readonly body = '',
    readonly headers: Record<string, string> = {},
  ) {
    super(body);
  }
}

/** Anything that escapes the handler is answered as Endb does: text/plain with the status. */
@Catch()
export class SqlHttpFilter implements ExceptionFilter {
  private readonly logger = new Logger('SqlHttp');

  catch(error: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return void res.end();
    if (error instanceof Answer) {
      res.status(error.status).set(error.headers);
      if (error.body) res.type('text/plain').send(error.body);
      else res.end();
      return;
    }
    const status = error instanceof HttpException ? error.getStatus() : 500;
    if (status === 500) this.logger.error((error as Error)?.stack ?? String(error));
    res.status(status).type('text/plain').send(`${status === 500 ? 'Internal error' : (error as Error).message}\n`);
  }
}

/**
 * Endb's HTTP API on /sql. Checks run in Endb's order: credentials (401), the Accept header (406), then
 * the method and content type (405, 415, 422). Reads may use GET; a write over GET is refused with an
 * empty 400. A POST that changed data answers 201. The body is read here, bounded, for every content type.
 */
@ApiTags('sql')
@Controller('sql')
@UseFilters(SqlHttpFilter)
export class SqlController {
  constructor(
    @Inject(SqlRunner) private readonly runner: SqlRunner,
    @Inject(SQL_DIALECT_SETTINGS) private readonly settings: SqlDialectSettings,
    @Inject(SqlAuthenticator) private readonly auth: SqlAuthenticator,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Run a read-only SQL statement (Endb dialect)' })
  @ApiQuery({ name: 'q', description: 'the SQL statement', required: true })
  @ApiQuery({ name: 'p', description: 'parameters: a JSON array (positional ?) or object (named :name)', required: false })
  @ApiQuery({ name: 'm', description: 'true: p is an array of parameter sets (bulk)', required: false })
  @ApiProduces('application/json', 'application/ld+json', 'application/x-ndjson', 'text/csv')
  @ApiResponse({ status: 200, description: 'the rows (application/json: arrays in column order)' })
  @ApiResponse({ status: 400, description: 'an SQL error (text/plain), or a write over GET (empty)' })
  @ApiResponse({ status: 401, description: 'credentials required (when SQL_USERNAME/SQL_PASSWORD are set): that pair, or an identity user’s email:password' })
  @ApiResponse({ status: 406, description: 'no acceptable media type' })
  @ApiResponse({ status: 422, description: 'q missing' })
  get(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle(req, res);
  }

  @Post()
  @ApiOperation({ summary: 'Run an SQL statement (Endb dialect)' })
  @ApiConsumes('application/json', 'application/ld+json', 'application/sql', 'application/x-www-form-urlencoded', 'multipart/form-data')
  @ApiProduces('application/json', 'application/ld+json', 'application/x-ndjson', 'text/csv')
  @ApiResponse({ status: 200, description: 'the rows, or the DML result, nothing changed' })
  @ApiResponse({ status: 201, description: 'the statement changed data' })
  @ApiResponse({ status: 400, description: 'an SQL error (text/plain)' })
  @ApiResponse({ status: 401, description: 'credentials required' })
  @ApiResponse({ status: 406, description: 'no acceptable media type' })
  @ApiResponse({ status: 409, description: 'the statement kept losing races to other writers' })
  @ApiResponse({ status: 413, description: 'body larger than SQL_MAX_BODY_BYTES' })
  @ApiResponse({ status: 415, description: 'unsupported content type' })
  @ApiResponse({ status: 422, description: 'q missing or the body malformed' })
  post(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle(req, res);
  }

  @Options()
  @ApiOperation({ summary: 'The methods /sql allows' })
  @ApiResponse({ status: 204, description: `Allow: ${ALLOW}` })
  options(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle(req, res);
  }

  @All()
  @ApiOperation({ summary: 'Any other method: 405 with Allow' })
  @ApiResponse({ status: 405, description: `Allow: ${ALLOW}` })
  other(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.handle(req, res);
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const writer = await this.auth.identify(req.headers.authorization);
    if (!writer) throw new Answer(401, '', { 'WWW-Authenticate': WWW_AUTHENTICATE });
    const media = negotiate(req.headers.accept);
    if (!media) throw new Answer(406);
    if (req.method === 'OPTIONS') throw new Answer(204, '', { Allow: ALLOW });
    if (req.method !== 'GET' && req.method !== 'POST') throw new Answer(405, '', { Allow: ALLOW });
    const fields = this.queryFields(req);
    if (req.method === 'POST') Object.assign(fields, await this.bodyFields(req));
    if (fields.q === undefined) throw new Answer(422);
    await this.execute(req.method, media, fields, res, writer);
  }

  private queryFields(req: Request): Record<string, string> {
    const at = req.url.indexOf('?');
    return Object.fromEntries(new URLSearchParams(at < 0 ? '' : req.url.slice(at + 1)));
  }

  private async bodyFields(req: Request): Promise<Record<string, string>> {
    const { essence, boundary } = contentType(req.headers['content-type']);
    if (!['application/json', 'application/ld+json', 'application/sql', 'application/x-www-form-urlencoded', 'multipart/form-data'].includes(essence ?? '')) throw new Answer(415);
    if (essence === 'multipart/form-data' && !boundary) throw new Answer(400);
    const body = await this.readBody(req);
    switch (essence) {
      case 'application/json':
      case 'application/ld+json': {
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          throw new Answer(422);
        }
        if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Answer(422);
        return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
      }
      case 'application/sql': {
        const q = new TextDecoder('utf-8', { fatal: true });
        try {
          return { q: q.decode(body) };
        } catch {
          throw new Answer(422);
        }
      }
      case 'application/x-www-form-urlencoded':
        return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      default: {
        const parts = parseMultipart(body, boundary!);
        if (!parts) throw new Answer(400);
        const out: Record<string, string> = {};
        for (const { name, contentType: type, value } of parts) {
          if (name === 'q' && (type === 'text/plain' || type === 'application/sql')) out.q = value;
          else if ((name === 'p' || name === 'm') && ['text/plain', 'application/json', 'application/ld+json'].includes(type)) out[name] = value;
          else if (name === 'q' || name === 'p' || name === 'm') throw new Answer(415);
          else throw new Answer(400);
        }
        return out;
      }
    }
  }

  /** The body, at most maxBodyBytes (413 past it). */
  private async readBody(req: Request): Promise<Buffer> {
    const limit = this.settings.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) throw new Answer(413, `Body too large: at most ${limit} bytes\n`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new Answer(413, `Body too large: at most ${limit} bytes\n`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  private async execute(method: string, media: MediaType, fields: Record<string, string>, res: Response, writer: SqlWriter): Promise<void> {
    const q = fields.q;
    let p: unknown;
    let m: unknown;
    try {
      p = JSON.parse(fields.p ?? '[]');
    } catch {
      throw new Answer(400, `Invalid parameters: ${fields.p}\n`);
    }
    try {
      m = JSON.parse(fields.m ?? 'false');
    } catch {
      m = undefined;
    }
    if (typeof p !== 'object' || p === null) throw new Answer(400, `Invalid parameters: ${fields.p}\n`);
    if (typeof m !== 'boolean') throw new Answer(400, `Invalid many: ${fields.m}\n`);
    let statement: Statement;
    try {
      statement = this.runner.parse(q);
      if (statement.kind === 'begin' || statement.kind === 'commit') throw new Answer(400, 'Explicit transactions not supported\n');
      if (statement.kind === 'rollback') {
        if (method !== 'POST') throw new Answer(400);
        return void res.status(200).type(media).send(renderResult(media, ['result'], [[true]]));
      }
      if (method === 'GET' && !isQuery(statement)) throw new Answer(400);
      const result = await this.runner.run(statement, this.runner.paramSets(p, m), m, undefined, writer);
      res
        .status(result.changed && method === 'POST' ? 201 : 200)
        .type(media)
        .send(renderResult(media, result.columns, result.rows));
    } catch (error) {
      throw this.refusal(error, q);
    }
  }

  private refusal(error: unknown, q: string): unknown {
    if (error instanceof Answer) return error;
    if (error instanceof SqlSyntaxError) return new Answer(400, `${sqlReport(q, error.message, { offset: error.offset, length: error.length }, 'Parse error')}\n`);
    if (error instanceof SqlError) return new Answer(400, `${sqlReport(q, error.message, error.pos, error.label)}\n`);
    if (error instanceof SqlRequestError) return new Answer(400, `${error.message}\n`);
    if (error instanceof SqlConflictError || error instanceof ConflictError) return new Answer(409, 'Conflict\n');
    if (error instanceof OverloadedError || error instanceof UnavailableError || error instanceof ClosedError) return new Answer(503, `${error.message}\n`);
    return error;
  }
}
