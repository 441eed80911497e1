import { HttpException } from '@nestjs/common';

/** restify's error codes, as JXP clients read them: `{code, message}` with the matching status. */
export type JxpErrorCode = 'BadRequest' | 'Forbidden' | 'NotFound' | 'Conflict' | 'PreconditionFailed' | 'TooManyRequests' | 'InternalServer';

const STATUS: Record<JxpErrorCode, number> = {
  BadRequest: 400,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  PreconditionFailed: 412,
  TooManyRequests: 429,
  InternalServer: 500,
};

/** Thrown by the documents dialect's routes; its exception filter answers `{code, message}`. */
export class JxpError extends HttpException {
  constructor(
    readonly code: JxpErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super({ code, message, ...extra }, STATUS[code]);
  }
}

export const forbidden = (message = 'Forbidden') => new JxpError('Forbidden', message);
