import { type CallHandler, type ExecutionContext, HttpException, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import bodyParser from 'body-parser';
import type { Request, Response } from 'express';
import { from, type Observable, switchMap } from 'rxjs';

type Middleware = (req: Request, res: Response, next: (error?: unknown) => void) => void;

/**
 * Decodes a JSON body inside the route, not before routing: a body that is malformed or too large fails
 * there, so the dialect's own (scoped) exception filter answers it in the dialect's shape. Bodies of other
 * content types are left unread (`req.body` stays undefined) for the handler to refuse or read itself.
 */
@Injectable()
export class DecodeJsonBody implements NestInterceptor {
  private readonly parse: Middleware;

  constructor(@Inject(ConfigService) config: ConfigService) {
    this.parse = bodyParser.json({ limit: config.get<number>('MAX_MESSAGE_BYTES')!, strict: false }) as unknown as Middleware;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    return from(decode(this.parse, http.getRequest<Request>(), http.getResponse<Response>())).pipe(switchMap(() => next.handle()));
  }
}

function decode(parse: Middleware, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    parse(req, res, (error) => (error === undefined ? resolve() : reject(asHttpException(error))));
  });
}

/** body-parser's errors carry an HTTP status (400, 413, 415): keep it, and its message. */
function asHttpException(error: unknown): unknown {
  const status = (error as { status?: unknown }).status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return error;
  return new HttpException((error as Error).message, status, { cause: error });
}
