import type { Event } from '../../../core/event-store/event.js';

/** Streams of the identity context: one per user, one for each user's API keys, one for each user's revoked tokens. */
export const USER_STREAM_PREFIX = 'identity-user-';
export const API_KEYS_STREAM_PREFIX = 'identity-apikeys-';
export const TOKENS_STREAM_PREFIX = 'identity-tokens-';
/** The generated token-signing secret (when JWT_SECRET is not configured): one event, written once. */
export const SECRET_STREAM = 'identity-secret';
/** Written with the first admin, expected absent: two servers booting at once create one admin. */
export const BOOTSTRAP_STREAM = 'identity-bootstrap';

export const userStreamId = (userId: string) => `${USER_STREAM_PREFIX}${userId}`;
export const apiKeysStreamId = (userId: string) => `${API_KEYS_STREAM_PREFIX}${userId}`;
export const tokensStreamId = (userId: string) => `${TOKENS_STREAM_PREFIX}${userId}`;

/** What a user record holds (the password only as its argon2 hash). */
export type UserFields = {
  name: string | null;
  email: string;
  passwordHash: string | null;
  admin: boolean;
  groups: string[];
};

export type UserCreated = Event<'UserCreated', UserFields & { userId: string; ownerId: string | null; at: string }>;
export type UserUpdated = Event<'UserUpdated', { userId: string; changes: Partial<UserFields>; at: string }>;
/** Soft delete, as JXP's: the record stays (`_deleted: true`), its credentials stop working. */
export type UserDeleted = Event<'UserDeleted', { userId: string; at: string }>;
export type UserRestored = Event<'UserRestored', { userId: string; at: string }>;
/** Logout: every token issued to the user before this (generation below `generation`) is refused. */
export type UserTokensRevoked = Event<'UserTokensRevoked', { userId: string; generation: number; at: string }>;
export type UserEvent = UserCreated | UserUpdated | UserDeleted | UserRestored | UserTokensRevoked;

/** The key itself is never stored: only its SHA-256 (`hash`) and what identifies it to its owner. */
export type ApiKeyCreated = Event<
  'ApiKeyCreated',
  { keyId: string; userId: string; name: string; hash: string; prefix: string; last4: string; login: boolean; at: string }
>;
export type ApiKeyRevoked = Event<'ApiKeyRevoked', { keyId: string; userId: string; at: string }>;
export type ApiKeyEvent = ApiKeyCreated | ApiKeyRevoked;

/** One token (by its `jti`) refused until it expires: a rotated refresh token. `nonce` tells a racing revoker it lost. */
export type TokenRevoked = Event<'TokenRevoked', { jti: string; userId: string; expiresAt: string; nonce: string }>;

export type SigningSecretGenerated = Event<'SigningSecretGenerated', { secret: string }>;
export type AdminBootstrapped = Event<'AdminBootstrapped', { userId: string; email: string }>;

export const IDENTITY_PROJECTED_TYPES = [
  'UserCreated',
  'UserUpdated',
  'UserDeleted',
  'UserRestored',
  'UserTokensRevoked',
  'ApiKeyCreated',
  'ApiKeyRevoked',
  'TokenRevoked',
] as const;
