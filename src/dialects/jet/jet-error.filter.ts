import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { EdgeErrorRenderer } from '../../core/http/edge-errors.js';
import { toJetError } from './jet-errors.js';

const CODES: Record<number, string> = { 400: 'INVALID_BODY', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

/** JSONJet's failure shape, `{success: false, error: {code, message}}`. */
function answerJetError(error: unknown, response: Response): void {
  if (error instanceof HttpException) {
    const status = error.getStatus();
    response.status(status).json({ success: false, error: { code: CODES[status] ?? 'REQUEST_FAILED', message: error.message } });
    return;
  }
  const failure = toJetError(error);
  response.status(failure.status).json({ success: false, error: failure.error });
}

/** Scoped to the JET HTTP routes (JetController). */
@Catch()
export class JetErrorFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    answerJetError(error, host.switchToHttp().getResponse<Response>());
  }
}

const ROUTES: Record<string, string> = { '/api/execute': 'POST', '/api/insert': 'POST', '/api/streams': 'GET', '/api/status': 'GET' };

/** `/api/…` requests no route took: a known path with another method is 405, as JSONJet answers. */
export const jetEdgeErrors: EdgeErrorRenderer = {
  claims: (path) => path.startsWith('/api/'),
  render: (error: unknown, request: Request, response: Response) => {
    const allowed = ROUTES[request.path.replace(/\/$/, '')];
    if (allowed && error instanceof HttpException && error.getStatus() === 404) {
      response.status(405).setHeader('Allow', allowed);
      response.json({ success: false, error: { code: 'METHOD_NOT_ALLOWED', message: 'Method not allowed' } });
      return;
    }
    answerJetError(error, response);
  },
};
