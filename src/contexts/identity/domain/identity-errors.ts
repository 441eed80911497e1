import { DomainError } from '../../../core/errors/domain-errors.js';

/** What the identity rules refuse, by the few kinds a dialect answers differently. */
export type IdentityErrorCode = 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'BAD_REQUEST' | 'TOO_MANY' | 'PRECONDITION_FAILED';

export class IdentityError extends DomainError {
  override readonly name = 'IdentityError';
  constructor(
    override readonly code: IdentityErrorCode,
    message: string,
  ) {
    super(message, code);
  }
}
