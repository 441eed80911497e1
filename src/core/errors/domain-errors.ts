/**
 * The errors a dialect may see from the domain, and the only ones it needs to tell apart: each dialect
 * maps these few to its own wire shape, never the event store's or the database's own classes.
 */

/** A command the rules refuse: the message is meant for the client. */
export class DomainError extends Error {
  override readonly name: string = 'DomainError';
  constructor(
    message: string,
    readonly code: string = 'invalid_command',
  ) {
    super(message);
  }
}

/** Too much is waiting (a mailbox, the append queue): nothing was applied; back off and retry. */
export class OverloadedError extends Error {
  override readonly name: string = 'OverloadedError';
}

/** The server is shutting down and takes no more writes: nothing was applied. */
export class ClosedError extends Error {
  override readonly name: string = 'ClosedError';
}

/** Someone else wrote first (an expected version did not match): read again and decide again. */
export class ConflictError extends Error {
  override readonly name: string = 'ConflictError';
}

/** The database cannot be reached: the write may be retried once it is back. */
export class UnavailableError extends Error {
  override readonly name: string = 'UnavailableError';
}
