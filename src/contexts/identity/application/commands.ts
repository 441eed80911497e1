import { Command, Query } from '@nestjs/cqrs';
import type { Identity } from './authenticate.query.js';

export { AuthenticateQuery, FindUserQuery, InvalidCredentialsError, type Credentials, type Identity } from './authenticate.query.js';

/** Who asks: a user's identity, or the server itself (the first admin at boot, tests, other contexts' internals). */
export type Actor = Identity | 'system';

/** A user as the read model holds it (never the password or its hash). */
export type UserView = Readonly<{
  id: string;
  name: string | null;
  email: string;
  admin: boolean;
  groups: readonly string[];
  ownerId: string | null;
  deleted: boolean;
  createdAt: string;
  updatedAt: string;
  /** How many changes the user has had (its stream position): an ETag. */
  version: number;
}>;

/** What a client may set on a user; anything else is dropped. `password` is hashed (argon2id) before it is recorded. */
export type UserInput = { name?: unknown; email?: unknown; password?: unknown; admin?: unknown; groups?: unknown };

/** One condition on a field: a value (equality; for `groups`, membership) or operators, as JXP's filters. */
export type UserCondition =
  | string
  | number
  | boolean
  | null
  | Readonly<{
      $eq?: unknown;
      $ne?: unknown;
      $gt?: unknown;
      $gte?: unknown;
      $lt?: unknown;
      $lte?: unknown;
      $in?: readonly unknown[];
      $nin?: readonly unknown[];
      /** A regular expression (PostgreSQL syntax); `$options: "i"` ignores case. */
      $regex?: string;
      $options?: string;
      $exists?: boolean;
    }>;

/**
 * Filter fields: `_id`, `name`, `email`, `admin`, `groups`, `_owner_id`, `_deleted`, `createdAt`, `updatedAt`.
 * A list of conditions on one field must all hold (ranges). Sort: those fields, 1 or -1, in order.
 */
export type UserListOptions = Readonly<{
  filter?: Readonly<Record<string, UserCondition | readonly UserCondition[]>>;
  sort?: Readonly<Record<string, 1 | -1>>;
  /** Default 100, at most 1000. */
  limit?: number;
  offset?: number;
  /** Soft-deleted users too (JXP's `showDeleted`). */
  includeDeleted?: boolean;
  /** Case-insensitive substring of name or email. */
  search?: string;
}>;

export const MAX_USER_PAGE = 1000;

/** Only an admin (or the system) creates users. Emails are lowercased and unique (IdentityError CONFLICT). */
export class CreateUserCommand extends Command<UserView> {
  constructor(
    readonly actor: Actor,
    readonly input: UserInput,
  ) {
    super();
  }
}

/**
 * A partial update. A non-admin may update only themselves, and their `admin` and `groups` are dropped.
 * `restore: true` undeletes a soft-deleted user (admin only).
 */
export class UpdateUserCommand extends Command<UserView> {
  constructor(
    readonly actor: Actor,
    readonly userId: string,
    readonly input: UserInput,
    readonly restore = false,
    /** If-Match: the versions the user may be at (undefined: any); else IdentityError PRECONDITION_FAILED and nothing changes. */
    readonly expected?: readonly number[],
  ) {
    super();
  }
}

/** Soft delete (admin only): the user stays, `deleted: true`, and none of their credentials work any more. */
export class DeleteUserCommand extends Command<UserView> {
  constructor(
    readonly actor: Actor,
    readonly userId: string,
    /** If-Match, as UpdateUserCommand's. */
    readonly expected?: readonly number[],
  ) {
    super();
  }
}

/** A non-admin sees only themselves. */
export class ListUsersQuery extends Query<UserView[]> {
  constructor(
    readonly actor: Actor,
    readonly options: UserListOptions = {},
  ) {
    super();
  }
}

export class CountUsersQuery extends Query<number> {
  constructor(
    readonly actor: Actor,
    readonly options: Pick<UserListOptions, 'filter' | 'includeDeleted' | 'search'> = {},
  ) {
    super();
  }
}

/** NOT_FOUND when unknown, or soft-deleted unless `includeDeleted`; FORBIDDEN for a non-admin asking for someone else. */
export class GetUserQuery extends Query<UserView> {
  constructor(
    readonly actor: Actor,
    readonly userId: string,
    readonly includeDeleted = false,
  ) {
    super();
  }
}

export type TokenPair = Readonly<{ userId: string; token: string; tokenExpires: string; refreshToken: string; refreshTokenExpires: string }>;
export type LoginResult = TokenPair & Readonly<{ apikey: string }>;

/** Email and password → tokens and the user's login API key (stable across logins). Wrong → InvalidCredentialsError. */
export class LoginCommand extends Command<LoginResult> {
  constructor(
    readonly email: string,
    readonly password: string,
  ) {
    super();
  }
}

/** A refresh token → a new pair; the presented refresh token is revoked (single use). */
export class RefreshCommand extends Command<TokenPair> {
  constructor(readonly refreshToken: string) {
    super();
  }
}

/** Revokes every token issued to the user so far (access and refresh, on every server). */
export class LogoutCommand extends Command<void> {
  constructor(readonly userId: string) {
    super();
  }
}

/** An API key as its owner lists it: never the key itself. */
export type ApiKeyView = Readonly<{ id: string; userId: string; name: string; prefix: string; last4: string; login: boolean; createdAt: string }>;

/** A new key for the user, returned once (`apikey`); only its SHA-256 is kept. */
export class CreateApiKeyCommand extends Command<{ key: ApiKeyView; apikey: string }> {
  constructor(
    readonly userId: string,
    readonly name?: string,
  ) {
    super();
  }
}

export class ListApiKeysQuery extends Query<ApiKeyView[]> {
  constructor(readonly userId: string) {
    super();
  }
}

/** NOT_FOUND unless the key is the user's and active. */
export class RevokeApiKeyCommand extends Command<void> {
  constructor(
    readonly userId: string,
    readonly keyId: string,
  ) {
    super();
  }
}
