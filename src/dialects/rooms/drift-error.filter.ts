import { type ArgumentsHost, Catch, HttpException, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';

const ROOM_ROUTES = /^\/(new|room\/[^/]+(\/send)?)\/?$/;

/**
 * Answers failures of the DriftDB HTTP routes in DriftDB's own shape, `{"type": "error", "message"}`,
 * including bodies that never reached the controller (bad JSON, too large). Other routes keep Nest's.
 */
@Catch()
export class DriftErrorFilter extends BaseExceptionFilter {
  private readonly logger = new Logger(DriftErrorFilter.name);

  override catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    if (host.getType() !== 'http' || !ROOM_ROUTES.test(request.path)) return super.catch(error, host);
    const status = error instanceof HttpException ? error.getStatus() : 500;
    if (status >= 500) this.logger.error(error instanceof Error ? error.stack : String(error));
    const message = status >= 500 ? 'internal error' : error instanceof Error ? error.message : String(error);
    http.getResponse<Response>().status(status).json({ type: 'error', message });
  }
}
