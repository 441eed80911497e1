import { backends } from '../../../test/support/databases.js';
import { DEFAULT_ACTOR_OPTIONS } from '../../core/actors/actor-system.js';
import { Database } from '../../core/database/database.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { EventFeed } from '../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../core/projections/projection-runtime.js';
import { InvalidCredentialsError, type Identity } from './application/authenticate.query.js';
import { ApiKeyActors, IdentityService, UserActors } from './application/identity-service.js';
import { SigningSecret } from './application/signing-secret.js';
import { UserDirectory } from './application/user-directory.js';
import { apiKeysDecider } from './domain/api-keys.js';
import { IdentityError } from './domain/identity-errors.js';
import { userDecider } from './domain/user.js';
import { identityProjector } from './read-model/identity-projector.js';
import { CreateIdentity1766300000000 } from './read-model/migrations/1766300000000-create-identity.js';

const SETTINGS = { accessMs: 60_000, refreshMs: 120_000, cacheMs: 30_000, cacheSize: 100, maxApiKeys: 3 };

describe.each(backends())('identity context on $name', (backend) => {
  let db: Database;
  let store: EventStore;
  let runtime: ProjectionRuntime;
  const services: IdentityService[] = [];
  let identity: IdentityService;

  /** A service as another server would have it: its own actors, caches and secret loader, on the same database. */
  const service = () => {
    const feed = new EventFeed();
    const s = new IdentityService(
      store,
      new UserDirectory(db),
      new UserActors(userDecider, store, feed, DEFAULT_ACTOR_OPTIONS),
      new ApiKeyActors(apiKeysDecider, store, feed, DEFAULT_ACTOR_OPTIONS),
      new SigningSecret(store),
      SETTINGS,
    );
    services.push(s);
    return s;
  };

  beforeAll(async () => {
    db = await Database.open(await backend.target(), { migrations: [CreateIdentity1766300000000] });
    store = new EventStore(db);
    runtime = new ProjectionRuntime(db, store, new EventFeed());
    runtime.register(identityProjector);
    await runtime.start();
    identity = service();
  });
  afterAll(async () => {
    services.forEach((s) => s.stop());
    await runtime?.stop();
    await store?.drain();
    await db?.close();
    await backend.cleanup();
  });

  const code = (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (e) => (e instanceof IdentityError ? e.code : e instanceof InvalidCredentialsError ? 'INVALID' : `${e}`),
    );

  let admin: Identity;
  let ann: Identity;

  it('generates one signing secret for every server on the database, unless JWT_SECRET is set', async () => {
    // Before anything signed a token: the stream is empty, and two servers race to write it.
    const [a, b] = await Promise.all([new SigningSecret(store).get(), new SigningSecret(store).get()]);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length).toBe(32);
    expect(Buffer.from(await new SigningSecret(store, 'x'.repeat(32)).get()).toString()).toBe('x'.repeat(32));
  });

  it('creates the first admin once, however many servers boot at once', async () => {
    const results = await Promise.all([identity.bootstrapAdmin('Admin@Example.com', 'admin-secret'), service().bootstrapAdmin('admin@example.com', 'admin-secret')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await identity.bootstrapAdmin('admin@example.com', 'admin-secret')).toBe(false);
    const users = await identity.listUsers('system', {});
    expect(users.map((u) => [u.email, u.admin])).toEqual([['admin@example.com', true]]);
    admin = (await identity.authenticate({ basic: { email: 'ADMIN@example.com', password: 'admin-secret' } }))!;
    expect(admin).toMatchObject({ email: 'admin@example.com', admin: true, groups: [] });
  });

  it('creates users (admin only), lowercases emails, keeps them unique even when two creates race', async () => {
    const created = await identity.createUser(admin, { name: 'Ann', email: ' Ann@Example.com ', password: 'ann-pass', groups: ['red'], extra: 1 } as never);
    expect(created).toMatchObject({ name: 'Ann', email: 'ann@example.com', admin: false, groups: ['red'], deleted: false, version: 1 });
    expect(created.id).toMatch(/^[0-9a-f]{24}$/);
    expect(created).not.toHaveProperty('passwordHash');
    ann = (await identity.findUser(created.id))!;
    expect(await code(identity.createUser(admin, { email: 'ANN@example.com' }))).toBe('CONFLICT');
    expect(await code(identity.createUser(ann, { email: 'bob@example.com' }))).toBe('FORBIDDEN');
    expect(await code(identity.createUser(admin, { email: 'not-an-email' }))).toBe('BAD_REQUEST');
    const race = await Promise.all([identity, service()].map((s) => code(s.createUser(admin, { email: 'race@example.com', password: 'x' }))));
    expect(race.sort()).toEqual(['CONFLICT', 'ok']);
    expect(await identity.countUsers(admin, { filter: { email: 'race@example.com' } })).toBe(1);
  });

  it('lets a non-admin read and update only themselves, dropping admin and groups', async () => {
    const updated = await identity.updateUser(ann, ann.userId, { name: 'Ann B', admin: true, groups: ['admins'] });
    expect(updated).toMatchObject({ name: 'Ann B', admin: false, groups: ['red'], version: 2 });
    expect(await code(identity.updateUser(ann, admin.userId, { name: 'x' }))).toBe('FORBIDDEN');
    expect(await code(identity.getUser(ann, admin.userId))).toBe('FORBIDDEN');
    expect((await identity.listUsers(ann, {})).map((u) => u.id)).toEqual([ann.userId]);
    expect(await identity.countUsers(ann, {})).toBe(1);
    expect(await code(identity.updateUser(ann, ann.userId, { email: 'admin@example.com' }))).toBe('CONFLICT');
    // Expected versions (If-Match), checked by the user's actor: a mismatch changes nothing.
    expect(await code(identity.updateUser(ann, ann.userId, { name: 'Ann C' }, false, [1]))).toBe('PRECONDITION_FAILED');
    expect(await code(identity.deleteUser(admin, ann.userId, [1, 3]))).toBe('PRECONDITION_FAILED');
    expect(await identity.getUser(ann, ann.userId)).toMatchObject({ name: 'Ann B', deleted: false, version: 2 });
    expect(await identity.updateUser(ann, ann.userId, { name: 'Ann C' }, false, [2])).toMatchObject({ name: 'Ann C', version: 3 });
    expect(await identity.updateUser(ann, ann.userId, { name: 'Ann B' })).toMatchObject({ version: 4 });
  });

  it('filters, sorts and pages users', async () => {
    await identity.createUser(admin, { name: 'Cy', email: 'cy@example.com', groups: ['red', 'blue'], admin: true });
    const names = async (options: object) => (await identity.listUsers(admin, options)).map((u) => u.name);
    expect(await names({ filter: { groups: 'red' }, sort: { name: 1 } })).toEqual(['Ann B', 'Cy']);
    expect(await names({ filter: { admin: 'true' }, sort: { name: -1 } })).toEqual(['Cy', 'Admin']);
    expect(await names({ filter: { email: { $regex: '^(ann|cy)@', $options: 'i' } }, sort: { email: 1 }, limit: 1, offset: 1 })).toEqual(['Cy']);
    expect(await names({ filter: { name: { $in: ['Cy', 'Admin'] } }, sort: { name: 1 } })).toEqual(['Admin', 'Cy']);
    expect(await names({ search: 'ANN', sort: { name: 1 } })).toEqual(['Ann B']);
    expect(await code(identity.listUsers(admin, { filter: { password: 'x' } }))).toBe('BAD_REQUEST');
  });

  it('logs in, authenticates by password, token and key, refreshes once per refresh token, and logs out everywhere', async () => {
    const login = await identity.login('ann@example.com', 'ann-pass');
    expect(login).toMatchObject({ userId: ann.userId, apikey: expect.stringMatching(/^jxp_/) });
    expect((await identity.login('ann@example.com', 'ann-pass')).apikey).toBe(login.apikey);
    expect(await code(identity.login('ann@example.com', 'wrong'))).toBe('INVALID');
    expect(await code(identity.login('nobody@example.com', 'ann-pass'))).toBe('INVALID');
    const other = service(); // another server: same secret from the log, same tables
    for (const s of [identity, other]) {
      expect((await s.authenticate({ bearer: login.token }))?.userId).toBe(ann.userId);
      expect((await s.authenticate({ apikey: login.apikey }))?.userId).toBe(ann.userId);
      expect((await s.authenticate({ basic: { email: 'ann@example.com', password: 'ann-pass' } }))?.userId).toBe(ann.userId);
    }
    expect(await identity.authenticate({})).toBeNull();
    expect(await code(identity.authenticate({ bearer: login.refreshToken }))).toBe('INVALID');
    expect(await code(identity.authenticate({ bearer: 'nonsense' }))).toBe('INVALID');
    expect(await code(identity.authenticate({ apikey: 'jxp_' + 'a'.repeat(43) }))).toBe('INVALID');

    // Two servers refresh with the same token at once: one gets a pair, the other is refused.
    const race = await Promise.all([identity, other].map((s) => code(s.refresh(login.refreshToken))));
    expect(race.sort()).toEqual(['INVALID', 'ok']);
    expect(await code(identity.refresh(login.refreshToken))).toBe('INVALID');
    const second = await identity.login('ann@example.com', 'ann-pass');
    const rotated = await other.refresh(second.refreshToken);
    expect((await identity.authenticate({ bearer: rotated.token }))?.userId).toBe(ann.userId);

    await other.logout(ann.userId);
    expect(await code(identity.authenticate({ bearer: rotated.token }))).toBe('INVALID');
    expect(await code(identity.refresh(rotated.refreshToken))).toBe('INVALID');
    const after = await identity.login('ann@example.com', 'ann-pass');
    expect((await other.authenticate({ bearer: after.token }))?.userId).toBe(ann.userId);
  });

  it('sees a password change made on another server at once, although the old password was cached', async () => {
    expect((await identity.authenticate({ basic: { email: 'ann@example.com', password: 'ann-pass' } }))?.userId).toBe(ann.userId);
    await service().updateUser(admin, ann.userId, { password: 'new-pass' });
    expect(await code(identity.authenticate({ basic: { email: 'ann@example.com', password: 'ann-pass' } }))).toBe('INVALID');
    expect((await identity.authenticate({ basic: { email: 'ann@example.com', password: 'new-pass' } }))?.userId).toBe(ann.userId);
  });

  it('creates, lists and revokes API keys, bounded per user; a deleted user authenticates no more', async () => {
    const { key, apikey } = await identity.createApiKey(ann.userId, 'ci');
    expect(key).toMatchObject({ name: 'ci', userId: ann.userId, prefix: apikey.slice(0, 8), last4: apikey.slice(-4), login: false });
    expect((await identity.authenticate({ apikey }))?.userId).toBe(ann.userId);
    const listed = await identity.listApiKeys(ann.userId);
    expect(listed.map((k) => k.name).sort()).toEqual(['ci', 'login']);
    expect(JSON.stringify(listed)).not.toContain(apikey);
    await identity.createApiKey(ann.userId);
    await identity.createApiKey(ann.userId);
    expect(await code(identity.createApiKey(ann.userId))).toBe('TOO_MANY');
    await identity.revokeApiKey(ann.userId, key.id);
    expect(await code(identity.authenticate({ apikey }))).toBe('INVALID');
    expect(await code(identity.revokeApiKey(ann.userId, key.id))).toBe('NOT_FOUND');
    expect(await code(identity.revokeApiKey(admin.userId, listed.find((k) => k.login)!.id))).toBe('NOT_FOUND');

    const bob = await identity.createUser(admin, { email: 'bob@example.com', password: 'bob-pass' });
    const bobLogin = await identity.login('bob@example.com', 'bob-pass');
    expect(await code(identity.deleteUser(ann, bob.id))).toBe('FORBIDDEN');
    expect((await identity.deleteUser(admin, bob.id)).deleted).toBe(true);
    for (const credentials of [{ bearer: bobLogin.token }, { apikey: bobLogin.apikey }, { basic: { email: 'bob@example.com', password: 'bob-pass' } }]) {
      expect(await code(identity.authenticate(credentials))).toBe('INVALID');
    }
    expect(await code(identity.getUser(admin, bob.id))).toBe('NOT_FOUND');
    expect((await identity.getUser(admin, bob.id, true)).deleted).toBe(true);
    expect(await identity.countUsers(admin, { includeDeleted: true })).toBe((await identity.countUsers(admin, {})) + 1);
    expect((await identity.updateUser(admin, bob.id, {}, true)).deleted).toBe(false);
  });

  it('rebuilds the same read model from the log', async () => {
    const dump = async () => ({
      users: await db.query(`SELECT * FROM identity_users ORDER BY id`),
      keys: await db.query(`SELECT * FROM identity_api_keys ORDER BY id`),
      revoked: await db.query(`SELECT * FROM identity_revoked_tokens ORDER BY jti`),
    });
    const before = await dump();
    expect(before.revoked.length).toBeGreaterThan(0);
    await runtime.rebuild(identityProjector.name);
    expect(await dump()).toEqual(before);
  });
});
