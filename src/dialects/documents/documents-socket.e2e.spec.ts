import type { RunningTideline } from '../../app.factory.js';
import { useServersOnOneDatabase } from '../../../test/support/tideline.js';
import { ADMIN, basic, createUser, eventually, http, ISSUE_MODELS, JxpSocket, modelsFile } from './test-support.js';

const sql = async (server: RunningTideline, q: string) => {
  const res = await fetch(`${server.url}/sql`, { method: 'POST', body: q, headers: { 'content-type': 'application/sql', accept: 'application/json' } });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* an error's text */
  }
  return { status: res.status, body };
};

describe('documents dialect (JXP): /jxp/websocket change events, permission-checked, and one collection with SQL', () => {
  const db = useServersOnOneDatabase('tideline-jxp-ws-', { MODELS_FILE: modelsFile({ ...ISSUE_MODELS, hidden: { fields: { name: { type: 'string' } }, perms: { admin: 'crud' } } }), DOCUMENTS_MAX_SUBSCRIPTIONS: '3', DOCUMENTS_REAUTH_MS: '100', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  let server: RunningTideline;
  let ws: string;
  const sockets: JxpSocket[] = [];
  const open = async (localAddress?: string) => {
    const s = await JxpSocket.open(ws, { localAddress });
    sockets.push(s);
    return s;
  };
  const bob = { email: 'bob@example.com', password: 'bob-password' };
  const carol = { email: 'carol@example.com', password: 'carol-password' };
  let bobId: string;
  beforeAll(async () => {
    server = await db.start();
    ws = `${server.url.replace(/^http/, 'ws')}/jxp/websocket`;
    bobId = await createUser(server, { name: 'Bob', ...bob });
    await createUser(server, { name: 'Carol', ...carol });
  });
  afterAll(async () => {
    for (const s of sockets) await s.close();
  });

  it('answers ping, protocol errors and auth', async () => {
    const s = await open();
    expect(await s.request('ping')).toEqual({ action: 'ping', status: 'okay', client_id: expect.any(String), msg_id: 'm1', result: 'pong!' });
    expect(await s.raw('not json')).toEqual({ status: 'error', message: 'Unable to parse message' });
    expect(await s.raw(JSON.stringify({ msg_id: 'x' }))).toEqual({ status: 'error', message: 'missing action', msg_id: 'x' });
    expect(await s.raw(JSON.stringify({ action: 'ping' }))).toEqual({ status: 'error', message: 'missing msg_id' });
    expect(await s.request('fly')).toMatchObject({ status: 'error', message: 'action fly not implemented' });
    expect(await s.request('subscribe', { model: 'test' })).toMatchObject({ status: 'error', message: 'User not authenticated' });
    expect(await s.request('auth', { email: bob.email, password: 'wrong' })).toMatchObject({ status: 'error', message: 'Unable to authenticate' });
    expect(await s.request('auth', bob)).toMatchObject({ status: 'okay', result: 'Authed' });
    expect(await s.request('subscribe', { model: 'nothing' })).toMatchObject({ status: 'error' });
    expect(await s.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay', result: 'Subscribed to test' });
    expect(await s.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay', result: 'Already subscribed' });
    expect(await s.request('unsubscribe', { model: 'test' })).toMatchObject({ status: 'okay', result: 'Unsubscribed to test' });
    expect(await s.request('unsubscribe', { model: 'test' })).toMatchObject({ status: 'error' });
    expect(await s.request('subscribe', {})).toMatchObject({ status: 'error', message: 'missing model' });
    expect(await s.request('subscribe', { model: 'test', filter: 'value' })).toMatchObject({ status: 'error' });
    expect(await s.request('subscribe', { model: 'test', filter: { colour: 'red' } })).toMatchObject({ status: 'error', message: 'Unknown field colour on test' });
    // No read right on any document of the model: an error, not JXP's "okay".
    expect(await s.request('subscribe', { model: 'hidden' })).toMatchObject({ status: 'error', message: 'Authorization failed - r' });
    // At most DOCUMENTS_MAX_SUBSCRIPTIONS (3 here) per socket.
    for (const id of ['0123456789abcdef01234561', '0123456789abcdef01234562', '0123456789abcdef01234563']) {
      expect(await s.request('subscribe', { model: 'test', id })).toMatchObject({ status: 'okay', result: `Subscribed to test/${id}` });
    }
    expect(await s.request('subscribe', { model: 'secret' })).toMatchObject({ status: 'error', message: 'Too many subscriptions (at most 3)' });
    expect(await s.request('unsubscribe', { model: 'test', id: '0123456789abcdef01234561' })).toMatchObject({ status: 'okay' });
    expect(await s.request('subscribe', { model: 'secret' })).toMatchObject({ status: 'okay' });
    const admin = await open();
    await admin.request('auth', ADMIN);
    expect(await admin.request('subscribe', { model: 'hidden' })).toMatchObject({ status: 'okay', result: 'Subscribed to hidden' });
  });

  it('authenticates with an API key or a token; a bad, revoked or logged-out one is "Unable to authenticate", never echoed', async () => {
    const session = (await http(server, 'POST', '/jxp/login', { body: carol })).body;
    const key = (await http(server, 'POST', '/jxp/apikey', { auth: basic(carol), body: { name: 'socket' } })).body.data;
    const s = await open();
    const unable = { status: 'error', message: 'Unable to authenticate', msg_id: expect.any(String) };
    expect(await s.request('auth', { apikey: session.apikey })).toMatchObject({ status: 'okay', result: 'Authed' });
    expect(await s.request('subscribe', { model: 'secret' })).toMatchObject({ status: 'okay', result: 'Subscribed to secret' });
    const t = await open();
    expect(await t.request('subscribe', { model: 'test' })).toMatchObject({ status: 'error' });
    expect(await t.request('auth', { token: session.token })).toMatchObject({ status: 'okay', result: 'Authed' });
    expect(await t.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay', result: 'Subscribed to test' });
    const k = await open();
    expect(await k.request('auth', { apikey: key.apikey })).toMatchObject({ status: 'okay', result: 'Authed' });
    const bad = [{ apikey: 'jxp_0000000000000000000000000000000000000000000' }, { apikey: 'not-a-key' }, { token: 'not.a.token' }, { token: session.refresh_token }, {}, { email: carol.email }, { apikey: 42 }];
    for (const data of bad) {
      const answer = await k.request('auth', data);
      expect(answer).toEqual(unable);
      expect(JSON.stringify(answer)).not.toMatch(/jxp_0|not-a-key|not\.a\.token/);
    }
    // Revoked key; tokens after logout.
    expect((await http(server, 'DELETE', `/jxp/apikey/${key._id}`, { auth: basic(carol) })).status).toBe(200);
    expect(await k.request('auth', { apikey: key.apikey })).toEqual(unable);
    expect((await http(server, 'GET', '/jxp/logout', { auth: basic(carol) })).status).toBe(200);
    expect(await k.request('auth', { token: session.token })).toEqual(unable);
    expect(await k.request('auth', { apikey: session.apikey })).toMatchObject({ status: 'okay', result: 'Authed' });
  });

  it('counts password auths on the socket against the login limits of its address; key and token auths are not counted', async () => {
    const from = '127.0.0.23';
    const s = await open(from);
    for (let i = 0; i < 12; i++) {
      expect(await s.request('auth', i % 2 ? { email: bob.email, password: 'wrong' } : bob)).toMatchObject({ status: i % 2 ? 'error' : 'okay' });
    }
    const limited = await s.request('auth', bob);
    expect(limited).toMatchObject({ status: 'error', message: expect.stringMatching(/^Too many login attempts/) });
    expect((await open(from).then((o) => o.request('auth', bob))).message).toMatch(/^Too many login attempts/);
    const session = (await http(server, 'POST', '/jxp/login', { body: bob })).body;
    expect(await s.request('auth', { apikey: session.apikey })).toMatchObject({ status: 'okay', result: 'Authed' });
    expect(await s.request('auth', { token: session.token })).toMatchObject({ status: 'okay', result: 'Authed' });
    expect(await (await open('127.0.0.24')).request('auth', bob)).toMatchObject({ status: 'okay', result: 'Authed' });
  });

  it('ends a socket’s authentication, and its subscriptions, once its API key is revoked or its user deleted', async () => {
    // No POST /login here (and the password socket has an address of its own): this suite's logins stay under the limits.
    const dave = { email: 'dave@example.com', password: 'dave-password' };
    const daveId = await createUser(server, { name: 'Dave', ...dave });
    const key = (await http(server, 'POST', '/jxp/apikey', { auth: basic(dave), body: { name: 'socket' } })).body.data;
    const byKey = await open();
    expect(await byKey.request('auth', { apikey: key.apikey })).toMatchObject({ result: 'Authed' });
    expect(await byKey.request('subscribe', { model: 'secret' })).toMatchObject({ status: 'okay' });
    const byPassword = await open('127.0.0.31');
    expect(await byPassword.request('auth', dave)).toMatchObject({ result: 'Authed' });
    expect(await byPassword.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay' });
    const ended = (s: JxpSocket) => eventually(() => s.replies.find((r) => r.action === 'auth' && r.status === 'error'));
    expect((await http(server, 'DELETE', `/jxp/apikey/${key._id}`, { auth: basic(dave) })).status).toBe(200);
    expect(await ended(byKey)).toEqual({ action: 'auth', status: 'error', message: expect.stringMatching(/^Unable to authenticate/) });
    expect(await byKey.request('subscribe', { model: 'secret' })).toMatchObject({ status: 'error', message: 'User not authenticated' });
    expect(byPassword.replies).toEqual([]); // the key was not its proof
    expect((await http(server, 'DELETE', `/jxp/api/user/${daveId}`, { auth: basic(ADMIN) })).status).toBe(200);
    await ended(byPassword);
    await http(server, 'POST', '/jxp/api/test', { auth: basic(ADMIN), body: { name: 'after dave' } });
    expect(await byPassword.request('ping')).toMatchObject({ result: 'pong!' });
    expect(byPassword.pushes).toEqual([]);
  });

  it('ends the sockets that authenticated with a password once it changes; a key’s socket stays', async () => {
    const erin = { email: 'erin@example.com', password: 'erin-password' };
    const erinId = await createUser(server, { name: 'Erin', ...erin });
    const key = (await http(server, 'POST', '/jxp/apikey', { auth: basic(erin), body: { name: 'socket' } })).body.data;
    const byPassword = await open('127.0.0.41');
    expect(await byPassword.request('auth', erin)).toMatchObject({ result: 'Authed' });
    expect(await byPassword.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay' });
    const byKey = await open();
    expect(await byKey.request('auth', { apikey: key.apikey })).toMatchObject({ result: 'Authed' });
    const ended = (s: JxpSocket) => eventually(() => s.replies.find((r) => r.action === 'auth' && r.status === 'error'));
    // A PUT that leaves the password alone ends nothing: a canary's revoked key shows a check ran after it.
    const canaryKey = (await http(server, 'POST', '/jxp/apikey', { auth: basic(erin), body: { name: 'canary' } })).body.data;
    const canary = await open();
    expect(await canary.request('auth', { apikey: canaryKey.apikey })).toMatchObject({ result: 'Authed' });
    expect((await http(server, 'PUT', `/jxp/api/user/${erinId}`, { auth: basic(erin), body: { name: 'Erin B' } })).status).toBe(200);
    expect((await http(server, 'DELETE', `/jxp/apikey/${canaryKey._id}`, { auth: basic(erin) })).status).toBe(200);
    await ended(canary);
    expect(byPassword.replies).toEqual([]);
    expect((await http(server, 'PUT', `/jxp/api/user/${erinId}`, { auth: basic(ADMIN), body: { password: 'erin-new-password' } })).status).toBe(200);
    expect(await ended(byPassword)).toMatchObject({ message: expect.stringMatching(/^Unable to authenticate/) });
    expect(await byPassword.request('subscribe', { model: 'test' })).toMatchObject({ status: 'error', message: 'User not authenticated' });
    expect(await byKey.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay' });
    expect(byKey.replies).toEqual([]);
    expect(await byPassword.request('auth', { ...erin, password: 'erin-new-password' })).toMatchObject({ result: 'Authed' });
  });

  it('pushes exactly one event per change, checked against each subscriber’s read permission, with filters', async () => {
    const owner = await open();
    await owner.request('auth', bob);
    await owner.request('subscribe', { model: 'secret' });
    const other = await open();
    await other.request('auth', carol);
    expect(await other.request('subscribe', { model: 'secret' })).toMatchObject({ status: 'okay' });
    const filtered = await open();
    await filtered.request('auth', carol);
    await filtered.request('subscribe', { model: 'test', filter: { value: '5' } });

    const created = (await http(server, 'POST', '/jxp/api/secret', { auth: basic(bob), body: { name: 's1', body: 'hidden' } })).body.data;
    await http(server, 'PUT', `/jxp/api/secret/${created._id}`, { auth: basic(ADMIN), body: { body: 'changed' } });
    await http(server, 'DELETE', `/jxp/api/secret/${created._id}`, { auth: basic(ADMIN) });
    await http(server, 'DELETE', `/jxp/api/secret/${created._id}?_permaDelete=1`, { auth: basic(ADMIN) });
    await eventually(() => owner.pushes.length >= 3);
    expect(owner.pushes.map((p) => p.data.event)).toEqual(['post', 'put', 'del']);
    expect(owner.pushes[0]).toMatchObject({ client_id: expect.any(String), position: expect.any(Number), data: { modelname: 'secret', item: { _id: created._id, name: 's1' }, user_id: bobId, user_name: 'Bob', user_email: bob.email } });

    await http(server, 'POST', '/jxp/api/test', { auth: basic(bob), body: { name: 'four', value: 4 } });
    await http(server, 'POST', '/jxp/api/test', { auth: basic(bob), body: { name: 'no value' } }); // a missing field does not match
    await http(server, 'POST', '/jxp/api/test', { auth: basic(bob), body: { name: 'five', value: 5 } });
    await eventually(() => filtered.pushes.length >= 1);
    // a marker the owner sees after everything else: nothing more can arrive for `other`
    await http(server, 'POST', '/jxp/api/secret', { auth: basic(bob), body: { name: 'marker' } });
    await eventually(() => owner.pushes.length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(other.pushes).toEqual([]);
    expect(filtered.pushes.map((p) => p.data.item.name)).toEqual(['five']);
    expect(owner.pushes).toHaveLength(4);
  });

  it('replays from a position, then live, without gap or duplicate; unsubscribe detaches at once', async () => {
    const first = await open();
    await first.request('auth', bob);
    await first.request('subscribe', { model: 'test' });
    const a = (await http(server, 'POST', '/jxp/api/test', { auth: basic(bob), body: { name: 'r1' } })).body.data;
    await http(server, 'PUT', `/jxp/api/test/${a._id}`, { auth: basic(bob), body: { value: 1 } });
    await eventually(() => first.pushes.length >= 2);
    const from = first.pushes[0].position;
    await first.request('unsubscribe', { model: 'test' });
    await http(server, 'PUT', `/jxp/api/test/${a._id}`, { auth: basic(bob), body: { value: 2 } });
    const replay = await open();
    await replay.request('auth', bob);
    await replay.request('subscribe', { model: 'test', id: a._id, fromPosition: from });
    await http(server, 'PUT', `/jxp/api/test/${a._id}`, { auth: basic(bob), body: { value: 3 } });
    await eventually(() => replay.pushes.length >= 3);
    expect(replay.pushes.map((p) => [p.data.event, p.data.item.value])).toEqual([['put', 1], ['put', 2], ['put', 3]]);
    const positions = replay.pushes.map((p) => p.position);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    expect(first.pushes).toHaveLength(2);
  });

  it('shares the collection with SQL (its auth off: an admin `sql`, no user): SQL writes arrive as post/put/del by `sql`; documents are rows, with history', async () => {
    const s = await open();
    await s.request('auth', ADMIN);
    await s.request('subscribe', { model: 'test' });
    const doc = (await http(server, 'POST', '/jxp/api/test', { auth: basic(ADMIN), body: { name: 'shared', value: 10 } })).body.data;
    const rows = await sql(server, `SELECT name, value, _id, _deleted FROM test WHERE _id = '${doc._id}'`);
    expect(rows.body).toEqual([['shared', 10, doc._id, false]]);
    await new Promise((r) => setTimeout(r, 20));
    await http(server, 'PUT', `/jxp/api/test/${doc._id}`, { auth: basic(ADMIN), body: { value: 11 } });
    const before = (await sql(server, `SELECT created_at_probe FROM (SELECT 1 AS created_at_probe) x`)).status;
    expect(before).toBe(200);
    expect((await sql(server, `INSERT INTO test {name: 'from sql', value: 7}`)).status).toBe(201);
    expect((await sql(server, `UPDATE test SET value = 12 WHERE _id = '${doc._id}'`)).status).toBe(201);
    expect((await sql(server, `DELETE FROM test WHERE name = 'from sql'`)).status).toBe(201);
    await eventually(() => s.pushes.filter((p) => p.data.user_name === 'sql').length >= 3);
    const bySql = s.pushes.filter((p) => p.data.user_name === 'sql');
    expect(bySql.map((p) => [p.data.event, p.data.item.name, p.data.user_id, p.data.user_email])).toEqual([
      ['post', 'from sql', null, null],
      ['put', 'shared', null, null],
      ['del', 'from sql', null, null],
    ]);
    expect(bySql[0].data.item._owner_id).toBeNull();
    const got = await http(server, 'GET', `/jxp/api/test/${doc._id}`);
    expect(got.body.data.value).toBe(12);
    expect(got.headers.get('etag')).toBe('"3"');
    expect(bySql[0].data.item._id).toMatch(/^[0-9a-f]{24}$/);
  });

  it('validates SQL writes to a model’s table and gives them metadata; time travel shows a document before a PUT', async () => {
    expect(await sql(server, `INSERT INTO test {name: 'typed', value: 'seven'}`)).toMatchObject({ status: 400, body: expect.stringContaining('test: value must be number') });
    expect((await sql(server, `INSERT INTO test {value: 1}`)).status).toBe(400);
    expect((await sql(server, `INSERT INTO test {name: 'x', colour: 'red'}`)).status).toBe(400);
    expect((await sql(server, `INSERT INTO test {name: 'by sql', value: 1}`)).status).toBe(201);
    const [[id, owner, deleted, created]] = (await sql(server, `SELECT _id, _owner_id, _deleted, createdAt FROM test WHERE name = 'by sql'`)).body;
    expect([typeof id, owner, deleted, typeof created]).toEqual(['string', null, false, 'string']);
    const viaJxp = await http(server, 'GET', `/jxp/api/test/${id}`);
    expect(viaJxp.body.data).toMatchObject({ _id: id, name: 'by sql', value: 1 });
    expect((await sql(server, `UPDATE test SET value = 'nope' WHERE _id = '${id}'`)).status).toBe(400);

    const doc = (await http(server, 'POST', '/jxp/api/test', { auth: basic(ADMIN), body: { name: 'travel', value: 1 } })).body.data;
    await new Promise((r) => setTimeout(r, 30));
    const at = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 30));
    await http(server, 'PUT', `/jxp/api/test/${doc._id}`, { auth: basic(ADMIN), body: { value: 2 } });
    const res = await fetch(`${server.url}/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ q: 'SELECT value FROM test FOR SYSTEM_TIME AS OF ? WHERE _id = ?', p: [{ '@type': 'xsd:dateTime', '@value': at }, doc._id] }),
    });
    expect(JSON.parse(await res.text())).toEqual([[1]]);
    expect((await sql(server, `SELECT value FROM test WHERE _id = '${doc._id}'`)).body).toEqual([[2]]);
  });
});
