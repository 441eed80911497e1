import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { InvalidCredentialsError } from '../../contexts/identity/application/authenticate.query.js';
import { SqlError } from '../../contexts/collections/domain/sql-error.js';
import { ConflictError, OverloadedError, UnavailableError } from '../../core/errors/domain-errors.js';
import type { EdgeErrorRenderer } from '../../core/http/edge-errors.js';
import { JxpError } from './jxp-errors.js';

const CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  412: 'PreconditionFailed',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
};

const logger = new Logger('JxpErrorFilter');

/** Any error as restify's `{code, message}` with its status. */
export function jxpErrorBody(error: unknown): { status: number; body: Record<string, unknown> } {
  if (error instanceof JxpError) return { status: error.getStatus(), body: error.getResponse() as Record<string, unknown> };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message = typeof response === 'object' && response !== null && typeof (response as { message?: unknown }).message === 'string' ? (response as { message: string }).message : error.message;
    return { status, body: { code: CODES[status] ?? (status >= 500 ? 'InternalServer' : 'BadRequest'), message } };
  }
  if (error instanceof InvalidCredentialsError) return { status: 403, body: { code: 'Forbidden', message: error.message } };
  if (error instanceof SqlError) return { status: 400, body: { code: 'BadRequest', message: error.message } };
  if (error instanceof ConflictError) return { status: 409, body: { code: 'Conflict', message: 'The collection changed meanwhile; try again' } };
  if (error instanceof OverloadedError || error instanceof UnavailableError) return { status: 503, body: { code: 'ServiceUnavailable', message: (error as Error).message } };
  logger.error(`unexpected: ${(error as Error)?.stack ?? String(error)}`);
  return { status: 500, body: { code: 'InternalServer', message: 'Internal server error' } };
}

export function answerJxpError(error: unknown, response: Response): void {
  const { status, body } = jxpErrorBody(error);
  if (response.headersSent) return;
  response.status(status).json(body);
}

/** Scoped to the documents dialect's controllers. */
@Catch()
export class JxpErrorFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    answerJxpError(error, host.switchToHttp().getResponse<Response>());
  }
}

/** Requests under the prefix no route took (an unknown model, a method a path lacks, a URL that does not decode). */
export function jxpEdgeErrors(prefix: string, modelNames: () => readonly string[]): EdgeErrorRenderer {
  return {
    claims: (path) => path === prefix || path.startsWith(`${prefix}/`),
    render: (error: unknown, request: Request, response: Response) => {
      if (error instanceof HttpException && error.getStatus() === 404) {
        const m = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(?:api|count|query|bulkwrite)/([^/]+)`).exec(request.path);
        if (m && !modelNames().includes(m[1])) return answerJxpError(new JxpError('NotFound', `Model ${m[1]} not found`), response);
        return answerJxpError(new JxpError('NotFound', `${request.method} ${request.path} does not exist`), response);
      }
      answerJxpError(error, response);
    },
  };
}
