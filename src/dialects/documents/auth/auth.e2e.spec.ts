import { request as httpRequest } from 'node:http';
import type { RunningTideline } from '../../../app.factory.js';
import { useServersOnOneDatabase } from '../../../../test/support/tideline.js';

type Answer = { status: number; body: any; headers: Record<string, string | string[] | undefined> };

/** One HTTP request; `from` picks the client's own address (any of 127/8), as the login limiter counts by address. */
function call(server: RunningTideline, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown; from?: string } = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        localAddress: options.from,
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...options.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const basic = (email: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const FORBIDDEN = { status: 403, body: { code: 'Forbidden', message: expect.any(String) } };

describe('JXP identity over HTTP: login, tokens, API keys, users', () => {
  const db = useServersOnOneDatabase('tideline-jxp-auth-', { ADMIN_EMAIL: 'Admin@Example.com', ADMIN_PASSWORD: 'admin-password', JWT_EXPIRES_IN: '3s', AUTH_CACHE_MS: '5000' });
  let server: RunningTideline;
  const admin = basic('admin@example.com', 'admin-password');
  // Each test logs in from an address of its own, so the login limits of one never touch another.
  const login = (email: string, password: string, from: string) => call(server, 'POST', '/jxp/login', { body: { email, password }, from });

  beforeAll(async () => {
    server = await db.start();
  });

  it('logs in with the first admin from ADMIN_EMAIL/ADMIN_PASSWORD; a wrong email or password is 403 Incorrect email or password', async () => {
    const ok = await login('ADMIN@example.com', 'admin-password', '127.0.0.2');
    expect(ok).toMatchObject({
      status: 200,
      body: {
        user_id: expect.stringMatching(/^[0-9a-f]{24}$/),
        apikey: expect.stringMatching(/^jxp_/),
        token: expect.any(String),
        token_expires: expect.any(String),
        refresh_token: expect.any(String),
        refresh_token_expires: expect.any(String),
      },
    });
    expect(Object.keys(ok.body).sort()).toEqual(['apikey', 'refresh_token', 'refresh_token_expires', 'token', 'token_expires', 'user_id']);
    expect(Date.parse(ok.body.refresh_token_expires)).toBeGreaterThan(Date.parse(ok.body.token_expires));
    const incorrect = { status: 403, body: { code: 'Forbidden', message: 'Incorrect email or password' } };
    expect(await login('admin@example.com', 'wrong', '127.0.0.2')).toMatchObject(incorrect);
    expect(await login('nobody@example.com', 'admin-password', '127.0.0.2')).toMatchObject(incorrect);
    expect(await call(server, 'POST', '/jxp/login', { body: {}, from: '127.0.0.2' })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'POST', '/jxp/login', { body: '{"email": ', from: '127.0.0.2' })).toMatchObject({ status: 400, body: { code: 'BadRequest' } });
    // The login key is the same at every login.
    expect((await login('admin@example.com', 'admin-password', '127.0.0.2')).body.apikey).toBe(ok.body.apikey);
  });

  it('authenticates with Basic, Bearer, X-API-Key and ?apikey=; without credentials a route that needs them is 403 User not logged in', async () => {
    const { body: session } = await login('admin@example.com', 'admin-password', '127.0.0.3');
    for (const headers of [admin, bearer(session.token), { 'x-api-key': session.apikey }]) {
      expect(await call(server, 'GET', '/jxp/apikey', { headers })).toMatchObject({ status: 200, body: { data: [expect.objectContaining({ user_id: session.user_id })] } });
    }
    expect((await call(server, 'GET', `/jxp/apikey?apikey=${session.apikey}`)).status).toBe(200);
    expect(await call(server, 'GET', '/jxp/apikey')).toEqual(expect.objectContaining({ status: 403, body: { code: 'Forbidden', message: 'User not logged in' } }));
  });

  it('answers a bad, an expired or a revoked credential with 403, never as anonymous', async () => {
    const { body: session } = await login('admin@example.com', 'admin-password', '127.0.0.4');
    const bad = [
      basic('admin@example.com', 'nope'),
      basic('nobody@example.com', 'admin-password'),
      { authorization: 'Basic !!!' },
      bearer('not-a-token'),
      bearer(session.refresh_token), // a refresh token is not an access token
      { 'x-api-key': 'jxp_0000000000000000000000000000000000000000000' },
      { authorization: 'Digest abc' },
    ];
    for (const headers of bad) expect(await call(server, 'GET', '/jxp/apikey', { headers })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'GET', '/jxp/apikey?apikey=wrong')).toMatchObject(FORBIDDEN);
    // Expired: JWT_EXPIRES_IN is 3s here.
    const expires = Date.parse(session.token_expires);
    await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now()) + 1100));
    expect(await call(server, 'GET', '/jxp/apikey', { headers: bearer(session.token) })).toMatchObject(FORBIDDEN);
  });

  it('refreshes a pair once per refresh token, and logs out every token of the caller', async () => {
    const { body: session } = await login('admin@example.com', 'admin-password', '127.0.0.5');
    const refreshed = await call(server, 'POST', '/jxp/refresh', { headers: bearer(session.refresh_token) });
    expect(refreshed).toMatchObject({ status: 200, body: { user_id: session.user_id, token: expect.any(String), refresh_token: expect.any(String), token_expires: expect.any(String) } });
    expect(refreshed.body).not.toHaveProperty('apikey');
    expect(await call(server, 'POST', '/jxp/refresh', { headers: bearer(session.refresh_token) })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'POST', '/jxp/refresh', { headers: bearer(session.token) })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'POST', '/jxp/refresh')).toMatchObject(FORBIDDEN);
    const fresh = bearer(refreshed.body.token);
    expect((await call(server, 'GET', '/jxp/apikey', { headers: fresh })).status).toBe(200);

    expect(await call(server, 'GET', '/jxp/logout', { headers: fresh })).toMatchObject({ status: 200, body: { status: 'ok', message: 'User logged out' } });
    expect(await call(server, 'GET', '/jxp/apikey', { headers: fresh })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'POST', '/jxp/refresh', { headers: bearer(refreshed.body.refresh_token) })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'GET', '/jxp/logout')).toMatchObject(FORBIDDEN);
    // API keys and passwords still work; a new login gets tokens that work.
    expect((await call(server, 'GET', '/jxp/apikey', { headers: { 'x-api-key': session.apikey } })).status).toBe(200);
    const again = await login('admin@example.com', 'admin-password', '127.0.0.5');
    expect((await call(server, 'GET', '/jxp/apikey', { headers: bearer(again.body.token) })).status).toBe(200);
  });

  it('creates an API key shown once, lists keys without secrets, and revokes one', async () => {
    const created = await call(server, 'POST', '/jxp/apikey', { headers: admin, body: { name: 'ci' } });
    expect(created).toMatchObject({ status: 200, body: { status: 'ok', message: 'apikey created', data: { _id: expect.stringMatching(/^[0-9a-f]{24}$/), name: 'ci', apikey: expect.stringMatching(/^jxp_/) } } });
    const { _id: id, apikey } = created.body.data;
    const key = { 'x-api-key': apikey };
    const listed = await call(server, 'GET', '/jxp/apikey', { headers: key });
    expect(listed.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ _id: id, name: 'ci', key_prefix: apikey.slice(0, 8), last4: apikey.slice(-4) })]));
    expect(JSON.stringify(listed.body)).not.toContain(apikey);
    expect(await call(server, 'DELETE', `/jxp/apikey/${id}`, { headers: admin })).toMatchObject({ status: 200, body: { status: 'ok', message: `apikey/${id} deleted` } });
    expect(await call(server, 'GET', '/jxp/apikey', { headers: key })).toMatchObject(FORBIDDEN);
    expect(await call(server, 'DELETE', `/jxp/apikey/${id}`, { headers: admin })).toMatchObject({ status: 404, body: { code: 'NotFound' } });
  });

  it('limits logins to 12 a minute per client address (429 on the 13th, right or wrong), other addresses and requests unaffected', async () => {
    const from = '127.0.0.9';
    for (let i = 0; i < 12; i++) expect((await login('admin@example.com', i % 2 ? 'wrong' : 'admin-password', from)).status).toBe(i % 2 ? 403 : 200);
    expect(await login('admin@example.com', 'admin-password', from)).toMatchObject({ status: 429, body: { code: 'TooManyRequests', message: expect.any(String) } });
    expect((await call(server, 'GET', '/jxp/apikey', { headers: admin, from })).status).toBe(200);
    expect((await login('admin@example.com', 'admin-password', '127.0.0.10')).status).toBe(200);
  });

  it('keeps the user rules: only an admin creates users, a user cannot make themselves admin, passwords never come back, emails are unique', async () => {
    const created = await call(server, 'POST', '/jxp/api/user', { headers: admin, body: { name: 'Ann', email: 'Ann@Example.com', password: 'ann-password', groups: ['red'] } });
    expect(created).toMatchObject({ status: 200, body: { status: 'ok', message: 'user created', data: { _id: expect.any(String), name: 'Ann', email: 'ann@example.com', admin: false, groups: ['red'] } } });
    expect(created.body.data).not.toHaveProperty('password');
    const annId = created.body.data._id;
    const ann = basic('ann@example.com', 'ann-password');
    expect(await call(server, 'POST', '/jxp/api/user', { headers: admin, body: { email: 'ANN@example.com' } })).toMatchObject({ status: 409, body: { code: 'Conflict' } });
    expect(await call(server, 'POST', '/jxp/api/user', { headers: ann, body: { email: 'eve@example.com' } })).toMatchObject({ status: 403, body: { code: 'Forbidden' } });
    const selfUpdate = await call(server, 'PUT', `/jxp/api/user/${annId}`, { headers: ann, body: { name: 'Ann B', admin: true, groups: ['admins'] } });
    expect(selfUpdate).toMatchObject({ status: 200, body: { status: 'ok', message: 'user updated', data: { name: 'Ann B', admin: false, groups: ['red'] } } });
    expect(JSON.stringify(selfUpdate.body)).not.toMatch(/password|argon/);
    const list = await call(server, 'GET', '/jxp/api/user', { headers: ann });
    expect(list.body.data.map((u: { _id: string }) => u._id)).toEqual([annId]);
    const all = await call(server, 'GET', '/jxp/api/user?sort=email', { headers: admin });
    expect(all.body.data.map((u: { email: string }) => u.email)).toEqual(['admin@example.com', 'ann@example.com']);
    expect(JSON.stringify(all.body)).not.toMatch(/password|argon/);
    // A password change takes effect at once (the verified-credentials cache notwithstanding).
    expect((await call(server, 'PUT', `/jxp/api/user/${annId}`, { headers: ann, body: { password: 'changed-password' } })).status).toBe(200);
    expect(await call(server, 'GET', '/jxp/apikey', { headers: ann })).toMatchObject(FORBIDDEN);
    expect((await call(server, 'GET', '/jxp/apikey', { headers: basic('ann@example.com', 'changed-password') })).status).toBe(200);
    expect((await call(server, 'GET', '/docs-json')).body.paths).toEqual(expect.objectContaining({ '/jxp/login': expect.anything(), '/jxp/refresh': expect.anything(), '/jxp/logout': expect.anything(), '/jxp/apikey': expect.anything(), '/jxp/apikey/{id}': expect.anything() }));
  });
  it('gives the user model ETags and honours If-Match on its PUT and DELETE (412 PreconditionFailed, nothing changes); refusals name the verb as JXP', async () => {
    const created = await call(server, 'POST', '/jxp/api/user', { headers: admin, body: { name: 'Eve', email: 'eve@example.com', password: 'eve-password' } });
    expect(created.headers.etag).toBe('"1"');
    const id = created.body.data._id;
    const eve = basic('eve@example.com', 'eve-password');
    const got = await call(server, 'GET', `/jxp/api/user/${id}`, { headers: eve });
    expect(got).toMatchObject({ status: 200, headers: { etag: '"1"' }, body: { data: { _id: id, name: 'Eve' } } });
    const precondition = { status: 412, body: { code: 'PreconditionFailed', message: expect.any(String) } };
    expect(await call(server, 'PUT', `/jxp/api/user/${id}`, { headers: { ...eve, 'if-match': '"7"' }, body: { name: 'Mallory' } })).toMatchObject(precondition);
    expect(await call(server, 'PUT', `/jxp/api/user/${id}`, { headers: { ...eve, 'if-match': 'W/"x"' }, body: { name: 'Mallory' } })).toMatchObject(precondition);
    const put = await call(server, 'PUT', `/jxp/api/user/${id}`, { headers: { ...eve, 'if-match': '"3", "1"' }, body: { name: 'Eve B' } });
    expect(put).toMatchObject({ status: 200, headers: { etag: '"2"' }, body: { data: { name: 'Eve B' } } });
    // A matching version with nothing to change changes nothing; a stale one is still refused.
    expect(await call(server, 'PUT', `/jxp/api/user/${id}`, { headers: { ...eve, 'if-match': '"2"' }, body: { name: 'Eve B' } })).toMatchObject({ status: 200, headers: { etag: '"2"' } });
    expect(await call(server, 'PUT', `/jxp/api/user/${id}`, { headers: { ...eve, 'if-match': '"1"' }, body: {} })).toMatchObject(precondition);
    expect(await call(server, 'DELETE', `/jxp/api/user/${id}`, { headers: { ...admin, 'if-match': '"1"' } })).toMatchObject(precondition);
    expect((await call(server, 'GET', `/jxp/api/user/${id}`, { headers: admin })).body.data).toMatchObject({ name: 'Eve B', _deleted: false });
    expect(await call(server, 'POST', '/jxp/api/user', { headers: eve, body: { email: 'x@example.com', password: 'x' } })).toMatchObject({ status: 403, body: { code: 'Forbidden', message: 'Authorization failed - c' } });
    expect(await call(server, 'DELETE', `/jxp/api/user/${id}`, { headers: eve })).toMatchObject({ status: 403, body: { code: 'Forbidden', message: 'Authorization failed - d' } });
    const adminId = (await call(server, 'GET', '/jxp/api/user?filter[email]=admin@example.com', { headers: admin })).body.data[0]._id;
    expect(await call(server, 'GET', `/jxp/api/user/${adminId}`, { headers: eve })).toMatchObject({ status: 403, body: { message: 'Authorization failed - r' } });
    expect(await call(server, 'PUT', `/jxp/api/user/${adminId}`, { headers: eve, body: { name: 'x' } })).toMatchObject({ status: 403, body: { message: 'Authorization failed - u' } });
    expect(await call(server, 'DELETE', `/jxp/api/user/${id}`, { headers: { ...admin, 'if-match': '*' } })).toMatchObject({ status: 200, body: { status: 'ok', message: `user/${id} deleted` } });
    expect(await call(server, 'GET', `/jxp/api/user/${id}?showDeleted=1`, { headers: admin })).toMatchObject({ status: 200, headers: { etag: '"3"' }, body: { data: { _deleted: true } } });
  });
});
