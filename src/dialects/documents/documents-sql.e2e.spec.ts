import WebSocket from 'ws';
import type { RunningTideline } from '../../app.factory.js';
import { useServersOnOneDatabase } from '../../../test/support/tideline.js';
import { ADMIN, basic, createUser, eventually, JxpSocket, modelsFile } from './test-support.js';

const ROOT = { email: 'root', password: 'root-password' }; // SQL_USERNAME / SQL_PASSWORD
const bob = { name: 'Bob', email: 'bob@example.com', password: 'bob-password' };
const carol = { name: 'Carol', email: 'carol@example.com', password: 'carol-password' };

/** POST /sql as application/sql; the body parsed when it is JSON (rows), else the error's text. */
async function sql(server: RunningTideline, auth: { email: string; password: string } | undefined, q: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/sql', accept: 'application/json' };
  if (auth) headers.authorization = basic(auth);
  const res = await fetch(`${server.url}/sql`, { method: 'POST', body: q, headers });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** A /sql socket signed in with the subprotocol a browser would send; `run` answers one statement. */
async function sqlSocket(server: RunningTideline, auth: { email: string; password: string }) {
  const protocol = encodeURIComponent(basic(auth));
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/sql`, [protocol]);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
    ws.once('error', reject);
  });
  let id = 0;
  const run = (q: string): Promise<{ result?: unknown; error?: { message: string } }> =>
    new Promise((resolve) => {
      const mine = ++id;
      const onMessage = (data: WebSocket.RawData) => {
        const reply = JSON.parse(String(data));
        if (reply.id !== mine) return;
        ws.off('message', onMessage);
        resolve(reply);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: mine, method: 'sql', params: { q } }));
    });
  const close = () => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : (ws.once('close', () => resolve()), ws.close())));
  return { ws, run, close };
}

describe('documents dialect (JXP) and SQL: SQL writes to a model’s table are checked against the SQL identity', () => {
  const db = useServersOnOneDatabase('tideline-jxp-sql-', { MODELS_FILE: modelsFile(), SQL_USERNAME: ROOT.email, SQL_PASSWORD: ROOT.password, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  let server: RunningTideline;
  let bobId: string;
  let carolId: string;
  const closers: (() => Promise<void>)[] = [];
  const ownerOf = async (table: string, name: string) => (await sql(server, ROOT, `SELECT _owner_id FROM ${table} WHERE name = '${name}'`)).body;
  const valueOf = async (name: string) => (await sql(server, ROOT, `SELECT value FROM test WHERE name = '${name}'`)).body;

  beforeAll(async () => {
    server = await db.start();
    bobId = await createUser(server, bob);
    carolId = await createUser(server, carol);
  });
  afterAll(async () => {
    for (const close of closers) await close();
  });

  it('lets in the static pair and identity users (HTTP and socket), nobody else', async () => {
    expect((await sql(server, undefined, 'SELECT 1')).status).toBe(401);
    expect((await sql(server, { ...bob, password: 'wrong' }, 'SELECT 1')).status).toBe(401);
    expect((await sql(server, { email: 'nobody@example.com', password: 'x' }, 'SELECT 1')).status).toBe(401);
    expect(await sql(server, bob, 'SELECT 1')).toEqual({ status: 200, body: [[1]] });
    expect(await sql(server, ROOT, 'SELECT 1')).toEqual({ status: 200, body: [[1]] });
    await expect(sqlSocket(server, { ...bob, password: 'wrong' })).rejects.toMatchObject({ status: 401 });
    const socket = await sqlSocket(server, bob);
    closers.push(socket.close);
    expect(socket.ws.protocol).toBe(encodeURIComponent(basic(bob)));
  });

  it('test (user "cr", owner "rud"): a user inserts as the owner, updates and deletes only their own rows; a refusal writes nothing', async () => {
    expect((await sql(server, bob, `INSERT INTO test {name: 'bob row', value: 1}`)).status).toBe(201);
    expect((await sql(server, carol, `INSERT INTO test {name: 'carol row', value: 1}`)).status).toBe(201);
    expect(await ownerOf('test', 'bob row')).toEqual([[bobId]]);
    expect(await ownerOf('test', 'carol row')).toEqual([[carolId]]);

    expect((await sql(server, bob, `UPDATE test SET value = 2 WHERE name = 'bob row'`)).status).toBe(201);
    expect(await valueOf('bob row')).toEqual([[2]]);
    const refused = await sql(server, bob, `UPDATE test SET value = 3 WHERE name = 'carol row'`);
    expect(refused).toMatchObject({ status: 400, body: expect.stringContaining('test: Authorization failed - u') });
    // One row of someone else's refuses the whole statement: bob's own row is not changed either.
    expect((await sql(server, bob, `UPDATE test SET value = 9`)).status).toBe(400);
    expect(await valueOf('bob row')).toEqual([[2]]);
    expect(await valueOf('carol row')).toEqual([[1]]);
    expect(await sql(server, bob, `DELETE FROM test WHERE name = 'carol row'`)).toMatchObject({ status: 400, body: expect.stringContaining('test: Authorization failed - d') });
    expect((await sql(server, bob, `UPDATE test SET _owner_id = '${carolId}' WHERE name = 'bob row'`)).status).toBe(400);
    expect((await sql(server, bob, `INSERT INTO test {name: 'planted', _owner_id: '${carolId}'}`)).status).toBe(400);
    expect((await sql(server, bob, `SELECT count(*) FROM test WHERE name = 'planted'`)).body).toEqual([[0]]);

    // The static pair is an admin owning nothing; it may change anyone's row.
    expect((await sql(server, ROOT, `INSERT INTO test {name: 'root row'}`)).status).toBe(201);
    expect(await ownerOf('test', 'root row')).toEqual([[null]]);
    expect((await sql(server, ROOT, `UPDATE test SET value = 5 WHERE name = 'carol row'`)).status).toBe(201);
    expect((await sql(server, bob, `DELETE FROM test WHERE name = 'bob row'`)).status).toBe(201);
    expect(await ownerOf('test', 'bob row')).toEqual([]);
  });

  it('secret (user "c", owner "r"): a user inserts, and may neither update nor delete, even their own', async () => {
    expect((await sql(server, bob, `INSERT INTO secret {name: 'bob secret', body: 'x'}`)).status).toBe(201);
    expect(await ownerOf('secret', 'bob secret')).toEqual([[bobId]]);
    expect(await sql(server, bob, `UPDATE secret SET body = 'y' WHERE name = 'bob secret'`)).toMatchObject({ status: 400, body: expect.stringContaining('secret: Authorization failed - u') });
    expect(await sql(server, bob, `DELETE FROM secret WHERE name = 'bob secret'`)).toMatchObject({ status: 400, body: expect.stringContaining('secret: Authorization failed - d') });
    expect((await sql(server, ROOT, `SELECT body FROM secret WHERE name = 'bob secret'`)).body).toEqual([['x']]);
  });

  it('pushes SQL INSERT/UPDATE/DELETE to /jxp/websocket as post/put/del naming the SQL identity; a socket transaction is judged at COMMIT', async () => {
    const subscriber = await JxpSocket.open(`${server.url.replace(/^http/, 'ws')}/jxp/websocket`);
    closers.push(() => subscriber.close());
    expect(await subscriber.request('auth', ADMIN)).toMatchObject({ result: 'Authed' });
    expect(await subscriber.request('subscribe', { model: 'test' })).toMatchObject({ status: 'okay' });
    const socket = await sqlSocket(server, bob);
    closers.push(socket.close);
    expect((await socket.run(`INSERT INTO test {name: 'pushed', value: 1}`)).error).toBeUndefined();
    expect((await socket.run(`UPDATE test SET value = 2 WHERE name = 'pushed'`)).error).toBeUndefined();
    expect((await socket.run(`DELETE FROM test WHERE name = 'pushed'`)).error).toBeUndefined();
    expect((await sql(server, ROOT, `INSERT INTO test {name: 'pushed by root'}`)).status).toBe(201);
    await socket.run('BEGIN');
    await socket.run(`UPDATE test SET value = 7 WHERE name = 'carol row'`);
    expect((await socket.run('COMMIT')).error?.message).toContain('test: Authorization failed - u');
    await eventually(() => subscriber.pushes.length >= 4);
    const seen = subscriber.pushes.map((p) => [p.data.event, p.data.item.name, p.data.user_id, p.data.user_name, p.data.user_email]);
    expect(seen).toEqual([
      ['post', 'pushed', bobId, 'Bob', bob.email],
      ['put', 'pushed', bobId, 'Bob', bob.email],
      ['del', 'pushed', bobId, 'Bob', bob.email],
      ['post', 'pushed by root', null, 'root', null],
    ]);
    expect(subscriber.pushes[0].data.item).toMatchObject({ _owner_id: bobId, value: 1 });
    expect(await valueOf('carol row')).toEqual([[5]]);
  });
});
