import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { ActorSystem } from '../../../core/actors/actor-system.js';
import { ConcurrencyError } from '../../../core/event-store/event.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import { type ApiKeysCommand, type ApiKeysState } from '../domain/api-keys.js';
import { IdentityError } from '../domain/identity-errors.js';
import {
  apiKeysStreamId,
  BOOTSTRAP_STREAM,
  tokensStreamId,
  userStreamId,
  type AdminBootstrapped,
  type ApiKeyEvent,
  type TokenRevoked,
  type UserCreated,
  type UserEvent,
  type UserFields,
} from '../domain/identity.events.js';
import { isObjectId, newObjectId } from '../domain/object-id.js';
import type { UserCommand, UserState } from '../domain/user.js';
import { InvalidCredentialsError, type Credentials, type Identity } from './authenticate.query.js';
import type { Actor, ApiKeyView, LoginResult, TokenPair, UserInput, UserListOptions, UserView } from './commands.js';
import { CredentialCache } from './credential-cache.js';
import { dummyVerify, hashPassword, passwordStampOf, verifyPassword } from './passwords.js';
import type { SigningSecret } from './signing-secret.js';
import { API_KEY_PATTERN, describeApiKey, hashApiKey, loginApiKey, newApiKey, TokenSigner } from './tokens.js';
import { toIdentity, toView, type UserDirectory, type UserRecord } from './user-directory.js';

export class UserActors extends ActorSystem<UserState, UserCommand, UserEvent> {}
export class ApiKeyActors extends ActorSystem<ApiKeysState, ApiKeysCommand, ApiKeyEvent> {}

export type IdentitySettings = Readonly<{
  accessMs: number;
  refreshMs: number;
  cacheMs: number;
  cacheSize: number;
  maxApiKeys: number;
}>;

const EMAIL = /^[^\s@]+@[^\s@]+$/;
const MAX_GROUPS = 100;
const now = () => new Date().toISOString();
const isSystem = (actor: Actor): actor is 'system' => actor === 'system';
const isAdmin = (actor: Actor) => isSystem(actor) || actor.admin;

/** JXP's refusal: `Authorization failed - <verb>`, the verb a letter of `crud`. */
const forbidden = (verb: 'c' | 'r' | 'u' | 'd') => new IdentityError('FORBIDDEN', `Authorization failed - ${verb}`);
const bad = (message: string) => new IdentityError('BAD_REQUEST', message);

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; driverError?: { code?: unknown }; cause?: { code?: unknown } };
  return e?.code === '23505' || e?.driverError?.code === '23505' || e?.cause?.code === '23505';
}

/** The identity rules and flows, behind the command and query handlers. */
export class IdentityService {
  private readonly logger = new Logger('Identity');
  readonly credentials: CredentialCache;
  private readonly verifying = new Map<string, Promise<UserRecord | undefined>>();
  private signer?: Promise<TokenSigner>;

  constructor(
    /** A PublishingAppender, so this process's listeners hear revocations and key changes at once (the bare store in tests). */
    private readonly store: Pick<EventStore, 'append' | 'appendMany'>,
    private readonly directory: UserDirectory,
    private readonly users: UserActors,
    private readonly keys: ApiKeyActors,
    private readonly secret: SigningSecret,
    private readonly settings: IdentitySettings,
  ) {
    this.credentials = new CredentialCache(settings.cacheMs, settings.cacheSize);
  }

  stop(): void {
    this.users.stop();
    this.keys.stop();
  }

  private tokens(): Promise<TokenSigner> {
    this.signer ??= this.secret.get().then((secret) => new TokenSigner(secret, { accessMs: this.settings.accessMs, refreshMs: this.settings.refreshMs }));
    this.signer.catch(() => (this.signer = undefined));
    return this.signer;
  }

  // ── users ──

  /** The fields of a write, validated; unknown ones are ignored (as JXP's strict schemas drop them). */
  private async fields(input: UserInput, creating: boolean): Promise<Partial<UserFields>> {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw bad('The body must be an object');
    const out: Partial<UserFields> = {};
    if (input.email !== undefined || creating) {
      if (typeof input.email !== 'string' || !EMAIL.test(input.email.trim()) || input.email.length > 254) throw bad('email: a valid email address is required');
      out.email = input.email.trim().toLowerCase();
    }
    if (input.name !== undefined) {
      if (input.name !== null && input.name !== '' && typeof input.name !== 'string') throw bad('name: must be a string');
      if (typeof input.name === 'string' && input.name.length > 1000) throw bad('name: at most 1000 characters');
      out.name = input.name === '' || input.name === null ? null : (input.name as string);
    }
    if (input.password !== undefined && input.password !== null && input.password !== '') {
      if (typeof input.password !== 'string' || input.password.length > 1024) throw bad('password: must be a string of at most 1024 characters');
      out.passwordHash = await hashPassword(input.password);
    }
    if (input.admin !== undefined) {
      if (typeof input.admin !== 'boolean' && input.admin !== null && input.admin !== '') throw bad('admin: must be a boolean');
      out.admin = input.admin === true;
    }
    if (input.groups !== undefined) {
      const groups = input.groups === null || input.groups === '' ? [] : input.groups;
      if (!Array.isArray(groups) || groups.length > MAX_GROUPS || !groups.every((g) => typeof g === 'string' && g.length > 0 && g.length <= 100)) {
        throw bad(`groups: must be a list of at most ${MAX_GROUPS} names`);
      }
      out.groups = [...new Set(groups as string[])];
    }
    return out;
  }

  private async emailFree(email: string, userId?: string): Promise<void> {
    const other = await this.directory.byEmail(email);
    if (other && other.id !== userId) throw new IdentityError('CONFLICT', `Email ${email} is already in use`);
  }

  private async record(userId: string): Promise<UserRecord> {
    const user = isObjectId(userId) ? await this.directory.byId(userId) : undefined;
    if (!user) throw new IdentityError('NOT_FOUND', `User ${userId} not found`);
    return user;
  }

  private async tellUser(userId: string, command: UserCommand): Promise<void> {
    try {
      await this.users.tell(userStreamId(userId), command);
    } catch (error) {
      if (isUniqueViolation(error)) throw new IdentityError('CONFLICT', 'Email is already in use');
      throw error;
    } finally {
      this.credentials.forgetUser(userId);
    }
  }

  async createUser(actor: Actor, input: UserInput): Promise<UserView> {
    if (!isAdmin(actor)) throw forbidden('c');
    const fields = await this.fields(input, true);
    await this.emailFree(fields.email!);
    const userId = newObjectId();
    const complete: UserFields = { name: fields.name ?? null, email: fields.email!, passwordHash: fields.passwordHash ?? null, admin: fields.admin ?? false, groups: fields.groups ?? [] };
    await this.tellUser(userId, { kind: 'create', userId, fields: complete, ownerId: userId, at: now() });
    return toView(await this.record(userId));
  }

  async updateUser(actor: Actor, userId: string, input: UserInput, restore = false, expected?: readonly number[]): Promise<UserView> {
    const self = !isSystem(actor) && actor.userId === userId;
    if (!isAdmin(actor) && !self) throw forbidden('u');
    const before = await this.record(userId);
    if (before.deleted && !restore) throw new IdentityError('NOT_FOUND', `Document ${userId} is deleted on user`);
    const changes = await this.fields(input, false);
    if (!isAdmin(actor)) {
      delete changes.admin;
      delete changes.groups;
    }
    if (changes.email !== undefined) await this.emailFree(changes.email, userId);
    // If-Match is checked by the user's actor on the first command told (nothing changes on a mismatch).
    let first = expected;
    if (restore) {
      if (!isAdmin(actor)) throw forbidden('u');
      await this.tellUser(userId, { kind: 'restore', userId, at: now(), expected: first });
      first = undefined;
    }
    if (Object.keys(changes).length > 0 || first !== undefined) await this.tellUser(userId, { kind: 'update', userId, changes, at: now(), expected: first });
    return toView(await this.record(userId));
  }

  async deleteUser(actor: Actor, userId: string, expected?: readonly number[]): Promise<UserView> {
    if (!isAdmin(actor)) throw forbidden('d');
    const before = await this.record(userId);
    if (before.deleted) throw new IdentityError('NOT_FOUND', `Document ${userId} is deleted on user`);
    await this.tellUser(userId, { kind: 'delete', userId, at: now(), expected });
    return toView(await this.record(userId));
  }

  async getUser(actor: Actor, userId: string, includeDeleted = false): Promise<UserView> {
    if (!isAdmin(actor) && (actor as Identity).userId !== userId) throw forbidden('r');
    const user = await this.record(userId);
    if (user.deleted && !includeDeleted) throw new IdentityError('NOT_FOUND', `Document ${userId} is deleted on user`);
    return toView(user);
  }

  listUsers(actor: Actor, options: UserListOptions): Promise<UserView[]> {
    return this.directory.list(options, isAdmin(actor) ? undefined : (actor as Identity).userId);
  }

  countUsers(actor: Actor, options: UserListOptions): Promise<number> {
    return this.directory.count(options, isAdmin(actor) ? undefined : (actor as Identity).userId);
  }

  async findUser(userId: string): Promise<Identity | null> {
    const user = isObjectId(userId) ? await this.directory.byId(userId) : undefined;
    return user ? toIdentity(user) : null;
  }

  /**
   * The first admin, when no user exists yet. Written with the bootstrap stream expected absent, in one
   * transaction: of servers booting at once on one database, exactly one writes it; the others find it done.
   */
  async bootstrapAdmin(email: string, password: string): Promise<boolean> {
    if (await this.directory.hasUsers()) return false;
    const userId = newObjectId();
    const at = now();
    const normalized = email.trim().toLowerCase();
    const created: UserCreated = {
      type: 'UserCreated',
      data: { userId, ownerId: userId, at, name: 'Admin', email: normalized, passwordHash: await hashPassword(password), admin: true, groups: [] },
    };
    const marker: AdminBootstrapped = { type: 'AdminBootstrapped', data: { userId, email: normalized } };
    try {
      await this.store.appendMany([
        { streamId: BOOTSTRAP_STREAM, expected: 'no_stream', events: [marker] },
        { streamId: userStreamId(userId), expected: 'no_stream', events: [created] },
      ]);
    } catch (error) {
      if (error instanceof ConcurrencyError || isUniqueViolation(error)) return false;
      throw error;
    }
    this.logger.log(`first admin ${normalized} created`);
    return true;
  }

  // ── authentication ──

  /** null without credentials; a bad, expired or revoked one throws InvalidCredentialsError. */
  async authenticate(credentials: Credentials): Promise<Identity | null> {
    if (credentials.basic) {
      const user = await this.checkPassword(credentials.basic.email, credentials.basic.password);
      return { ...toIdentity(user), passwordStamp: passwordStampOf(user.passwordHash!) };
    }
    if (credentials.bearer !== undefined) return toIdentity(await this.checkToken(credentials.bearer, 'access'));
    if (credentials.apikey !== undefined) return toIdentity(await this.checkApiKey(credentials.apikey));
    return null;
  }

  /** The user while `stamp` names their current password (see Identity.passwordStamp); else null. */
  async verifyPasswordStamp(userId: string, stamp: string): Promise<Identity | null> {
    const user = isObjectId(userId) ? await this.directory.byId(userId) : undefined;
    if (!user || user.deleted || !user.passwordHash || passwordStampOf(user.passwordHash) !== stamp) return null;
    return { ...toIdentity(user), passwordStamp: stamp };
  }

  private async checkPassword(rawEmail: string, password: string): Promise<UserRecord> {
    const email = rawEmail.trim().toLowerCase();
    const key = CredentialCache.key(email, password);
    const cached = this.credentials.get(key);
    if (cached) {
      const user = await this.directory.byId(cached.userId);
      if (user && !user.deleted && user.email === email && user.passwordHash === cached.passwordHash) return user;
      this.credentials.forgetUser(cached.userId);
    }
    // Requests with the same credentials at once share one verification.
    let verifying = this.verifying.get(key);
    if (!verifying) {
      verifying = (async () => {
        const user = await this.directory.byEmail(email);
        if (!user || user.deleted || !user.passwordHash) {
          await dummyVerify(password);
          return undefined;
        }
        if (!(await verifyPassword(user.passwordHash, password))) return undefined;
        this.credentials.set(key, user.id, user.passwordHash);
        return user;
      })().finally(() => this.verifying.delete(key));
      if (this.verifying.size < 10_000) this.verifying.set(key, verifying);
    }
    const user = await verifying;
    if (!user) throw new InvalidCredentialsError('Incorrect email or password');
    return user;
  }

  private async checkToken(token: string, kind: 'access' | 'refresh'): Promise<UserRecord> {
    const claims = await (await this.tokens()).verify(token, kind);
    const found = isObjectId(claims.userId) ? await this.directory.forToken(claims.userId, claims.jti) : undefined;
    if (!found || found.user.deleted) throw new InvalidCredentialsError('Invalid token');
    if (found.revoked || claims.generation < found.user.tokenGeneration) throw new InvalidCredentialsError('Token revoked');
    return found.user;
  }

  private async checkApiKey(key: string): Promise<UserRecord> {
    if (!API_KEY_PATTERN.test(key)) throw new InvalidCredentialsError('Invalid API key');
    const user = await this.directory.byApiKeyHash(hashApiKey(key));
    if (!user || user.deleted) throw new InvalidCredentialsError('Invalid API key');
    return user;
  }

  // ── tokens ──

  private async pair(user: UserRecord): Promise<TokenPair> {
    const signer = await this.tokens();
    const [access, refresh] = await Promise.all([signer.issue(user.id, 'access', user.tokenGeneration), signer.issue(user.id, 'refresh', user.tokenGeneration)]);
    return {
      userId: user.id,
      token: access.token,
      tokenExpires: access.expiresAt.toISOString(),
      refreshToken: refresh.token,
      refreshTokenExpires: refresh.expiresAt.toISOString(),
    };
  }

  async login(email: string, password: string): Promise<LoginResult> {
    if (typeof email !== 'string' || typeof password !== 'string' || email === '' || password === '') {
      throw new InvalidCredentialsError('Incorrect email or password');
    }
    const user = await this.checkPassword(email, password);
    const [tokens, apikey] = await Promise.all([this.pair(user), this.loginKey(user.id)]);
    return { ...tokens, apikey };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const signer = await this.tokens();
    const claims = await signer.verify(refreshToken, 'refresh');
    const user = await this.checkToken(refreshToken, 'refresh');
    // Single use: of two refreshes with one token (on any servers), the one whose revocation is recorded first wins.
    const nonce = randomBytes(8).toString('hex');
    const revocation: TokenRevoked = { type: 'TokenRevoked', data: { jti: claims.jti, userId: user.id, expiresAt: claims.expiresAt.toISOString(), nonce } };
    const result = await this.store.append(tokensStreamId(user.id), 'any', [revocation], { idempotencyKey: `revoke:${claims.jti}` });
    if ((result.events[0]?.data as TokenRevoked['data'] | undefined)?.nonce !== nonce) throw new InvalidCredentialsError('Token revoked');
    return this.pair(user);
  }

  async logout(userId: string): Promise<void> {
    await this.tellUser(userId, { kind: 'revoke_tokens', userId, at: now() });
  }

  // ── API keys ──

  async createApiKey(userId: string, name?: string): Promise<{ key: ApiKeyView; apikey: string }> {
    if (name !== undefined && (typeof name !== 'string' || name.length > 200)) throw bad('name: must be a string of at most 200 characters');
    await this.record(userId);
    const apikey = newApiKey();
    const keyId = newObjectId();
    const data = { keyId, userId, name: name?.trim() || 'API key', hash: hashApiKey(apikey), ...describeApiKey(apikey), login: false, at: now() };
    await this.keys.tell(apiKeysStreamId(userId), { kind: 'create', key: data, maxKeys: this.settings.maxApiKeys });
    const key = (await this.directory.apiKeys(userId)).find((k) => k.id === keyId)!;
    return { key, apikey };
  }

  listApiKeys(userId: string): Promise<ApiKeyView[]> {
    return this.directory.apiKeys(userId);
  }

  async revokeApiKey(userId: string, keyId: string): Promise<void> {
    if (!isObjectId(keyId)) throw new IdentityError('NOT_FOUND', `API key ${keyId} not found`);
    await this.keys.tell(apiKeysStreamId(userId), { kind: 'revoke', userId, keyId, at: now() });
  }

  /**
   * The user's login key: derived from the secret and its id (so shown again at each login without being
   * stored); made on first login, and again after it was revoked or the secret changed.
   */
  private async loginKey(userId: string): Promise<string> {
    const secret = await this.secret.get();
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = (await this.directory.apiKeys(userId)).find((k) => k.login);
      if (existing) {
        const key = loginApiKey(secret, existing.id);
        if (describeApiKey(key).last4 === existing.last4 && (await this.directory.byApiKeyHash(hashApiKey(key)))?.id === userId) return key;
        await this.keys.tell(apiKeysStreamId(userId), { kind: 'revoke', userId, keyId: existing.id, at: now() }).catch(() => undefined);
        continue;
      }
      const keyId = newObjectId();
      const key = loginApiKey(secret, keyId);
      const data = { keyId, userId, name: 'login', hash: hashApiKey(key), ...describeApiKey(key), login: true, at: now() };
      const events = await this.keys.tell(apiKeysStreamId(userId), { kind: 'create', key: data, maxKeys: this.settings.maxApiKeys });
      if (events.length > 0) return key;
      // another login made it first: read it
    }
    throw new IdentityError('CONFLICT', 'Could not settle the login API key; try again');
  }
}
