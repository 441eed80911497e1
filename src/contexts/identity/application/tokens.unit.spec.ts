import { InvalidCredentialsError } from './authenticate.query.js';
import { CredentialCache } from './credential-cache.js';
import { parseDuration } from './durations.js';
import { API_KEY_PATTERN, hashApiKey, loginApiKey, newApiKey, TokenSigner } from './tokens.js';

const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!');

describe('tokens', () => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const signer = new TokenSigner(secret, { accessMs: 60_000, refreshMs: 3_600_000 }, () => clock);

  it('signs access and refresh tokens with a jti, the generation and an expiry, and verifies only the kind asked for', async () => {
    const access = await signer.issue('5eb7cf838c9fba641e0e9dcb', 'access', 3);
    expect(access.expiresAt.toISOString()).toBe('2026-01-01T00:01:00.000Z');
    expect(await signer.verify(access.token, 'access')).toEqual({ userId: '5eb7cf838c9fba641e0e9dcb', jti: access.jti, kind: 'access', generation: 3, expiresAt: access.expiresAt });
    await expect(signer.verify(access.token, 'refresh')).rejects.toThrow(InvalidCredentialsError);
    const refresh = await signer.issue('5eb7cf838c9fba641e0e9dcb', 'refresh', 0);
    expect(refresh.jti).not.toBe(access.jti);
    expect((await signer.verify(refresh.token, 'refresh')).expiresAt.toISOString()).toBe('2026-01-01T01:00:00.000Z');
  });

  it('refuses expired, tampered and foreign tokens', async () => {
    const { token } = await signer.issue('u', 'access', 0);
    const [header, payload, signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'someone-else' })).toString('base64url');
    await expect(signer.verify(`${header}.${forged}.${signature}`, 'access')).rejects.toThrow('Invalid token');
    const other = new TokenSigner(new TextEncoder().encode('another-secret-of-at-least-32-bytes!'), { accessMs: 60_000, refreshMs: 60_000 }, () => clock);
    await expect(other.verify(token, 'access')).rejects.toThrow('Invalid token');
    await expect(signer.verify('not.a.jwt', 'access')).rejects.toThrow(InvalidCredentialsError);
    clock += 61_000;
    await expect(signer.verify(token, 'access')).rejects.toThrow('Token expired');
  });

  it('makes API keys of 256 bits, hashed with SHA-256, and derives a stable login key per key id', () => {
    const key = newApiKey();
    expect(key).toMatch(API_KEY_PATTERN);
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(loginApiKey(secret, 'abc')).toBe(loginApiKey(secret, 'abc'));
    expect(loginApiKey(secret, 'abc')).not.toBe(loginApiKey(secret, 'abd'));
    expect(loginApiKey(secret, 'abc')).toMatch(API_KEY_PATTERN);
  });

  it('parses durations', () => {
    expect([parseDuration('90'), parseDuration('90s'), parseDuration('15m'), parseDuration('24h'), parseDuration('30d'), parseDuration('500ms')]).toEqual([
      90_000, 90_000, 900_000, 86_400_000, 2_592_000_000, 500,
    ]);
    expect(() => parseDuration('1w')).toThrow();
    expect(() => parseDuration('0s')).toThrow();
  });
});

describe('credential cache', () => {
  let clock = 0;
  const cache = new CredentialCache(1000, 3, () => clock);

  it('keys by a hash of email and password, forgets after its ttl, and keeps at most its bound (least recently used go)', () => {
    const key = CredentialCache.key('ann@example.com', 'pw');
    expect(key).not.toContain('pw');
    expect(CredentialCache.key('ann@example.com', 'pw2')).not.toBe(key);
    cache.set(key, 'ann', 'hash-a');
    expect(cache.get(key)).toMatchObject({ userId: 'ann', passwordHash: 'hash-a' });
    clock = 1000;
    expect(cache.get(key)).toBeUndefined();
    for (const n of [1, 2, 3]) cache.set(`k${n}`, `u${n}`, 'h');
    cache.get('k1'); // k1 is now the most recently used
    cache.set('k4', 'u4', 'h');
    expect(cache.size).toBe(3);
    expect(['k1', 'k2', 'k3', 'k4'].map((k) => cache.get(k)?.userId)).toEqual(['u1', undefined, 'u3', 'u4']);
  });

  it("drops a user's entries when the user changes, and caches nothing with a ttl of 0", () => {
    cache.set('x', 'u9', 'h');
    cache.set('y', 'u9', 'h');
    cache.forgetUser('u9');
    expect([cache.get('x'), cache.get('y')]).toEqual([undefined, undefined]);
    const off = new CredentialCache(0, 10);
    off.set('x', 'u', 'h');
    expect(off.size).toBe(0);
  });
});
