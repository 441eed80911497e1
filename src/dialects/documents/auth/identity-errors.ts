import { InvalidCredentialsError } from '../../../contexts/identity/application/authenticate.query.js';
import { IdentityError } from '../../../contexts/identity/domain/identity-errors.js';
import { JxpError, type JxpErrorCode } from '../jxp-errors.js';

const CODES: Record<IdentityError['code'], JxpErrorCode> = {
  FORBIDDEN: 'Forbidden',
  NOT_FOUND: 'NotFound',
  CONFLICT: 'Conflict',
  BAD_REQUEST: 'BadRequest',
  TOO_MANY: 'Conflict',
  PRECONDITION_FAILED: 'PreconditionFailed',
};

/** The identity context's refusals as JXP errors; anything else is passed on as it is. */
export function asJxpError(error: unknown): unknown {
  if (error instanceof IdentityError) return new JxpError(CODES[error.code], error.message);
  if (error instanceof InvalidCredentialsError) return new JxpError('Forbidden', error.message);
  return error;
}

export async function jxp<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw asJxpError(error);
  }
}
