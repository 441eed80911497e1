import { createHash, createHmac, randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { InvalidCredentialsError } from './authenticate.query.js';

export type TokenKind = 'access' | 'refresh';

/** What a verified token says. `gen` is the user's token generation when it was issued (logout raises it). */
export type TokenClaims = Readonly<{ userId: string; jti: string; kind: TokenKind; generation: number; expiresAt: Date }>;

export type IssuedToken = Readonly<{ token: string; jti: string; expiresAt: Date }>;

export type TokenLifetimes = Readonly<{ accessMs: number; refreshMs: number }>;

/**
 * HS256 JWTs (jose): `sub` the user, `jti` a random id, `typ` access or refresh, `gen` the user's token
 * generation. Expiry is whole seconds, as JWT's `exp`; an expiry below a second rounds up to one.
 */
export class TokenSigner {
  constructor(
    private readonly secret: Uint8Array,
    private readonly lifetimes: TokenLifetimes,
    private readonly now: () => number = Date.now,
  ) {}

  async issue(userId: string, kind: TokenKind, generation: number): Promise<IssuedToken> {
    const jti = randomBytes(16).toString('hex');
    const now = this.now();
    const lifetime = kind === 'access' ? this.lifetimes.accessMs : this.lifetimes.refreshMs;
    const exp = Math.ceil((now + lifetime) / 1000);
    const token = await new SignJWT({ typ: kind, gen: generation })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setJti(jti)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(exp)
      .sign(this.secret);
    return { token, jti, expiresAt: new Date(exp * 1000) };
  }

  /** The claims of a token this server signed, of the kind asked for, not expired; else InvalidCredentialsError. */
  async verify(token: string, kind: TokenKind): Promise<TokenClaims> {
    if (token.length > 4096) throw new InvalidCredentialsError('Invalid token');
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], currentDate: new Date(this.now()) });
      const { sub, jti, exp, typ, gen } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number' || typ !== kind || !Number.isSafeInteger(gen)) {
        throw new InvalidCredentialsError('Invalid token');
      }
      return { userId: sub, jti, kind, generation: gen as number, expiresAt: new Date(exp * 1000) };
    } catch (error) {
      if (error instanceof InvalidCredentialsError) throw error;
      if (error instanceof errors.JWTExpired) throw new InvalidCredentialsError('Token expired');
      throw new InvalidCredentialsError('Invalid token');
    }
  }
}

/** API keys: `jxp_` and 43 characters of base64url (256 bits). Only their SHA-256 is stored. */
export const API_KEY_PATTERN = /^jxp_[A-Za-z0-9_-]{43}$/;

export function newApiKey(): string {
  return `jxp_${randomBytes(32).toString('base64url')}`;
}

/**
 * The user's login key (what POST /login answers as `apikey`, the same at every login, as JXP 5's one key
 * per user): derived from the signing secret and the key's id, so it can be shown again without storing it.
 */
export function loginApiKey(secret: Uint8Array, keyId: string): string {
  return `jxp_${createHmac('sha256', secret).update(`tideline-login-apikey:${keyId}`).digest('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function describeApiKey(key: string): { prefix: string; last4: string } {
  return { prefix: key.slice(0, 8), last4: key.slice(-4) };
}
