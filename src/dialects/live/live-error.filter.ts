import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { MetricNotFoundError, MetricQueryError, MetricValidationError } from '../../contexts/streams/metrics/index.js';
import { ClosedError, ConflictError, DomainError, OverloadedError, UnavailableError } from '../../core/errors/domain-errors.js';
import type { EdgeErrorRenderer } from '../../core/http/edge-errors.js';

/** An answer of the NSDb dialect: a status and a text (NSDb answers errors as plain text) or a JSON body. */
export class LiveHttpError extends Error {
  override readonly name = 'LiveHttpError';
  constructor(
    readonly status: number,
    readonly body: string | object,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

const logger = new Logger('LiveHttp');

/** NSDb's failure shapes: text reasons; the validation errors of `/data` as `[{field, error}]`. */
export function answerLiveError(error: unknown, response: Response): void {
  const send = (status: number, body: string | object) => {
    if (typeof body === 'string') response.status(status).type('text/plain').send(body);
    else response.status(status).type('application/json').send(JSON.stringify(body)); // (a route's text/plain header is replaced)
  };
  if (error instanceof LiveHttpError) return send(error.status, error.body);
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return send(status, status === 404 ? 'The requested resource could not be found.' : error.message);
  }
  if (error instanceof MetricValidationError) return send(400, error.errors);
  if (error instanceof MetricNotFoundError) return send(404, error.message);
  if (error instanceof MetricQueryError) return send(400, error.message);
  if (error instanceof DomainError) return send(error.code === 'STREAM_NOT_FOUND' ? 404 : 400, error.message);
  if (error instanceof OverloadedError || error instanceof UnavailableError || error instanceof ClosedError) return send(503, error.message || 'service unavailable');
  if (error instanceof ConflictError) return send(409, error.message);
  logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  send(500, 'internal server error');
}

/** Scoped to the NSDb HTTP routes (LiveController). */
@Catch()
export class LiveErrorFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    answerLiveError(error, host.switchToHttp().getResponse<Response>());
  }
}

const EXACT: Record<string, string> = { '/data': 'POST', '/query': 'POST', '/status': 'GET', '/commands/dbs': 'GET' };

/** The method a known NSDb path takes, if the path is one. */
function allowedOn(path: string): string | undefined {
  const p = path.replace(/\/$/, '');
  if (EXACT[p]) return EXACT[p];
  const parts = p.split('/').filter(Boolean);
  if (parts[0] !== 'commands') return undefined;
  if (parts.length === 3 && parts[2] === 'namespaces') return 'GET';
  if (parts.length === 4 && parts[3] === 'metrics') return 'GET';
  if (parts.length === 4) return 'GET, DELETE';
  if (parts.length === 3) return 'DELETE';
  return undefined;
}

/** `/data`, `/query`, `/status`, `/commands/…` requests no route took: a known path with another method is 405. */
export const liveEdgeErrors: EdgeErrorRenderer = {
  claims: (path) => ['/data', '/query', '/status'].includes(path.replace(/\/$/, '')) || path === '/commands' || path.startsWith('/commands/'),
  render: (error: unknown, request: Request, response: Response) => {
    const allowed = allowedOn(request.path);
    if (allowed && error instanceof HttpException && error.getStatus() === 404) {
      response.status(405).setHeader('Allow', allowed);
      response.type('text/plain').send('HTTP method not allowed, supported methods: ' + allowed);
      return;
    }
    answerLiveError(error, response);
  },
};
