import { Query } from '@nestjs/cqrs';

/**
 * Who a request or a socket proved to be. `admin` and `groups` come from the user's record. `passwordStamp`
 * (only when proven by a password) names the password it was: VerifyPasswordStampQuery tells later whether
 * it is still the user's, without the password being kept.
 */
export type Identity = Readonly<{ userId: string; email: string; name: string; admin: boolean; groups: readonly string[]; passwordStamp?: string }>;

/** What a client may present; at most one kind is used (Basic, then Bearer, then API key). */
export type Credentials = Readonly<{
  basic?: Readonly<{ email: string; password: string }>;
  bearer?: string;
  apikey?: string;
}>;

/** email:password of a Basic credential's base64 text; undefined when it holds no `email:` before a password. */
export function basicCredentialsOf(base64: string): Credentials['basic'] {
  const text = Buffer.from(base64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon > 0 ? { email: text.slice(0, colon), password: text.slice(colon + 1) } : undefined;
}

/**
 * Resolves credentials to an identity: `null` when none were given (anonymous). A bad, expired or revoked
 * credential throws InvalidCredentialsError, never falls back to anonymous.
 */
export class AuthenticateQuery extends Query<Identity | null> {
  constructor(readonly credentials: Credentials) {
    super();
  }
}

export class InvalidCredentialsError extends Error {
  constructor(message = 'Invalid credentials') {
    super(message);
    this.name = 'InvalidCredentialsError';
  }
}

/**
 * The user, while `stamp` (an Identity's passwordStamp) still names their password; null once the password
 * changed or the user was deleted (a connection that authenticated with the password should end then).
 */
export class VerifyPasswordStampQuery extends Query<Identity | null> {
  constructor(
    readonly userId: string,
    readonly stamp: string,
  ) {
    super();
  }
}

/** Looks a user up by id (for pushes naming who made a change); null when unknown. */
export class FindUserQuery extends Query<Identity | null> {
  constructor(readonly userId: string) {
    super();
  }
}
