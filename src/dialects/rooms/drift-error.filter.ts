import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { EdgeErrorRenderer } from '../../core/http/edge-errors.js';

const logger = new Logger('DriftErrorFilter');

/** Answers a failure in DriftDB's own shape, `{"type": "error", "message"}`. */
function answerDriftError(error: unknown, response: Response): void {
  const status = error instanceof HttpException ? error.getStatus() : 500;
  if (status >= 500) logger.error(error instanceof Error ? error.stack : String(error));
  const message = status >= 500 ? 'internal error' : error instanceof Error ? error.message : String(error);
  response.status(status).json({ type: 'error', message });
}

/** Scoped to the DriftDB HTTP routes (RoomsController), bodies that did not decode included. */
@Catch()
export class DriftErrorFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    answerDriftError(error, host.switchToHttp().getResponse<Response>());
  }
}

const ROOM_PATHS = /^\/(new|room\/[^/]+(\/send)?)\/?$/;

/** DriftDB's paths that failed before routing (an id that does not decode, a method the path lacks). */
export const driftEdgeErrors: EdgeErrorRenderer = {
  claims: (path) => ROOM_PATHS.test(path),
  render: (error: unknown, _request: Request, response: Response) => answerDriftError(error, response),
};
