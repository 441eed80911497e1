import WebSocket from 'ws';
import type { RunningTideline } from '../../app.factory.js';
import { backends } from '../../../test/support/databases.js';
import { startInProcess, tempDataDir } from '../../../test/support/tideline.js';

/** One server per block: PostgreSQL when DATABASE_URL is set (a scratch database), else PGlite. */
function useServer(extra: Record<string, string> = {}) {
  const backend = backends().at(-1)!;
  const fx = {} as { server: RunningTideline; ws: string };
  let remove = () => {};
  beforeAll(async () => {
    let env: Record<string, string>;
    if (backend.name === 'postgres') env = { DATABASE_URL: ((await backend.target()) as { url: string }).url };
    else {
      const dir = tempDataDir('tideline-sql-');
      remove = dir.remove;
      env = { DATA_DIR: dir.dir };
    }
    fx.server = await startInProcess({ ...env, ...extra });
    fx.ws = `${fx.server.url.replace(/^http/, 'ws')}/sql`;
  });
  afterAll(async () => {
    await fx.server?.close();
    await backend.cleanup();
    remove();
  });
  return fx;
}

type Reply = { jsonrpc: string; id: unknown; result?: { '@context': unknown; '@graph': Record<string, unknown>[] }; error?: { code: number; message: string } };

class RpcSocket {
  private readonly replies: Reply[] = [];
  private waiting?: () => void;
  private nextId = 1;
  closed: Promise<void>;
  protocol = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.replies.push(JSON.parse(data.toString()));
      this.waiting?.();
    });
    this.closed = new Promise((r) => ws.once('close', () => r()));
  }

  static open(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<RpcSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
      const socket = new RpcSocket(ws);
      ws.once('open', () => {
        socket.protocol = ws.protocol;
        resolve(socket);
      });
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, headers: res.headers })));
      ws.once('error', reject);
    });
  }

  async raw(frame: string | Buffer, binary = false): Promise<Reply> {
    const before = this.replies.length;
    this.ws.send(frame, { binary });
    while (this.replies.length === before) await new Promise<void>((r) => (this.waiting = r));
    return this.replies[before];
  }

  sql(q: string, p: unknown = [], m = false): Promise<Reply> {
    return this.raw(JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method: 'sql', params: { q, p, m } }));
  }

  async rows(q: string, p: unknown = [], m = false): Promise<Record<string, unknown>[]> {
    const reply = await this.sql(q, p, m);
    if (reply.error) throw new Error(reply.error.message);
    return reply.result!['@graph'];
  }

  close(): Promise<void> {
    this.ws.close();
    return this.closed;
  }
}

describe('Endb SQL dialect', () => {
  const fx = useServer({ SQL_TRANSACTION_TIMEOUT_MS: '2000' });
  const sockets: RpcSocket[] = [];
  const open = async () => {
    const s = await RpcSocket.open(fx.ws);
    sockets.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
  });

  describe('JSON-RPC over WebSocket /sql', () => {
    it('runs statements with named, positional and bulk parameters, in text and binary frames, answered as JSON-LD', async () => {
      const s = await open();
      const insert = await s.sql('INSERT INTO users (name) VALUES (?);', [['Tsehay'], ['Iniku']], true);
      expect(insert).toEqual({
        jsonrpc: '2.0',
        id: 1,
        result: { '@context': { xsd: 'http://www.w3.org/2001/XMLSchema#', '@vocab': 'http://endb.io/' }, '@graph': [{ result: 2 }] },
      });
      expect(await s.rows('INSERT INTO products {name: :name, price: :price};', { name: 'Hing', price: 2.99 })).toEqual([{ result: 1 }]);
      expect(await s.rows('SELECT * FROM products WHERE name = ? AND price > ?;', ['Hing', 2.0])).toEqual([{ name: 'Hing', price: 2.99 }]);
      expect(await s.rows('INSERT INTO events {start: :start};', { start: { '@type': 'xsd:dateTime', '@value': '2021-04-09T20:00:00Z' } })).toEqual([{ result: 1 }]);
      expect(await s.rows('SELECT start FROM events')).toEqual([{ start: { '@type': 'xsd:dateTime', '@value': '2021-04-09T20:00:00Z' } }]);
      const byPosition = await s.raw(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 'b', method: 'sql', params: ['SELECT name FROM users ORDER BY name', [], false] })), true);
      expect(byPosition).toMatchObject({ id: 'b', result: { '@graph': [{ name: 'Iniku' }, { name: 'Tsehay' }] } });
    });

    it("answers malformed requests with Endb's JSON-RPC codes", async () => {
      const s = await open();
      const rpc = (o: unknown) => s.raw(JSON.stringify(o));
      expect(await s.raw('{nope')).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      expect((await s.raw('[]')).error).toEqual({ code: -32600, message: 'Invalid Request' });
      expect(await rpc([{ jsonrpc: '2.0', id: 1, method: 'sql', params: { q: 'SELECT 1' } }])).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await rpc({ jsonrpc: '1.0', id: 1, method: 'sql', params: { q: 'SELECT 1' } })).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await rpc({ jsonrpc: '2.0', method: 'sql', params: { q: 'SELECT 1' } })).toMatchObject({ id: null, error: { code: -32600, message: 'Invalid Request' } });
      expect(await rpc({ jsonrpc: '2.0', id: { x: 1 }, method: 'sql', params: { q: 'SELECT 1' } })).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await rpc({ jsonrpc: '2.0', id: 7, method: 'query', params: { q: 'SELECT 1' } })).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32601, message: 'Method not found' } });
      for (const params of [{ q: 1 }, { q: 'SELECT 1', p: 3 }, { q: 'SELECT 1', m: 'yes' }, 'SELECT 1'])
        expect(await rpc({ jsonrpc: '2.0', id: 8, method: 'sql', params })).toEqual({ jsonrpc: '2.0', id: 8, error: { code: -32602, message: 'Invalid params' } });
      const unknown = await s.sql('SELECT * FROM users_nowhere;');
      expect(unknown.error!.code).toBe(-32603);
      expect(unknown.error!.message).toContain('Unknown table: users_nowhere');
      expect(unknown.error!.message).toContain('<unknown>:1:15');
      const syntax = await s.sql('SELECT * FROM\nWHERE');
      expect(syntax.error).toMatchObject({ code: -32603, message: expect.stringContaining('<unknown>:2:1') });
      expect((await s.sql('INSERT INTO t {a: ?}', { a: 1 }, true)).error).toEqual({ code: -32603, message: 'Many parameters must be an array' });
      expect((await s.sql('COMMIT')).error).toEqual({ code: -32603, message: 'No active transaction' });
      expect(await s.rows('SELECT 1')).toEqual([{ column1: 1 }]);
    });

    it('transactions: BEGIN … COMMIT appends atomically; a concurrent commit makes the later one fail with Conflict, changing nothing', async () => {
      const a = await open();
      const b = await open();
      await a.rows("INSERT INTO stock {sku: 'x', qty: 10}");
      expect(await a.rows('BEGIN TRANSACTION;')).toEqual([{ result: true }]);
      expect(await b.rows('BEGIN')).toEqual([{ result: true }]);
      expect((await a.sql('BEGIN')).error).toEqual({ code: -32603, message: 'Cannot nest transactions' });
      await a.rows("UPDATE stock SET qty = qty - 3 WHERE sku = 'x'");
      await b.rows("UPDATE stock SET qty = qty - 4 WHERE sku = 'x'");
      expect(await a.rows('SELECT qty FROM stock')).toEqual([{ qty: 7 }]);
      expect(await b.rows('SELECT qty FROM stock')).toEqual([{ qty: 6 }]);
      const [ra, rb] = await Promise.all([a.sql('COMMIT'), b.sql('COMMIT')]);
      const outcomes = [ra, rb].map((r) => (r.error ? r.error.message : 'ok')).sort();
      expect(outcomes).toEqual(['Conflict', 'ok']);
      const winner = ra.error ? 6 : 7;
      expect(await a.rows('SELECT qty FROM stock')).toEqual([{ qty: winner }]);
    });

    it('ROLLBACK leaves nothing, and a socket closed mid-transaction rolls back', async () => {
      const s = await open();
      await s.rows('BEGIN');
      await s.rows("INSERT INTO delete_me {name: 'Roll Me Back'}");
      expect(await s.rows('SELECT * FROM delete_me')).toEqual([{ name: 'Roll Me Back' }]);
      expect(await s.rows('ROLLBACK;')).toEqual([{ result: true }]);
      expect((await s.sql('SELECT * FROM delete_me;')).error!.message).toContain('Unknown table: delete_me');
      expect(await s.rows('ROLLBACK')).toEqual([{ result: true }]);

      const gone = await RpcSocket.open(fx.ws);
      await gone.rows('BEGIN');
      await gone.rows("INSERT INTO abandoned {a: 1}");
      await gone.close();
      const other = await open();
      expect((await other.sql('SELECT * FROM abandoned')).error!.message).toContain('Unknown table: abandoned');
    });
  });

  describe('HTTP /sql', () => {
    const call = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(fx.server.url + path, init);
      return { status: res.status, type: res.headers.get('content-type') ?? '', allow: res.headers.get('allow'), body: await res.text() };
    };
    const post = (body: string, type: string, accept?: string) => call('/sql', { method: 'POST', body, headers: { 'content-type': type, ...(accept ? { accept } : {}) } });

    it('takes every content type, answers 201 when a POST changed data and 200 otherwise', async () => {
      expect(await post(JSON.stringify({ q: "INSERT INTO http {a: 1, b: 'x'}" }), 'application/json')).toMatchObject({ status: 201, type: expect.stringContaining('application/json'), body: '[[1]]\n' });
      expect(await post(JSON.stringify({ q: 'INSERT INTO http {a: ?}', p: [[2], [3]], m: true }), 'application/ld+json')).toMatchObject({ status: 201, body: '[[2]]\n' });
      expect(await post('SELECT a FROM http ORDER BY a', 'application/sql')).toMatchObject({ status: 200, body: '[[1],[2],[3]]\n' });
      expect(await post(`q=${encodeURIComponent('SELECT a FROM http WHERE a = ?')}&p=${encodeURIComponent('[2]')}`, 'application/x-www-form-urlencoded')).toMatchObject({ status: 200, body: '[[2]]\n' });
      const multipart = ['--XyZ', 'Content-Disposition: form-data; name="q"', 'Content-Type: application/sql', '', 'SELECT ?, ?', '--XyZ', 'Content-Disposition: form-data; name="p"', '', '[1,2]', '--XyZ--', ''].join('\r\n');
      expect(await post(multipart, 'multipart/form-data; boundary=XyZ')).toMatchObject({ status: 200, body: '[[1,2]]\n' });
      expect(await call(`/sql?q=${encodeURIComponent("DELETE FROM http WHERE a = 9")}`, { method: 'POST', headers: { 'content-type': 'application/sql' }, body: 'DELETE FROM http WHERE a = 9' })).toMatchObject({ status: 200, body: '[[0]]\n' });
    });

    it('renders JSON-LD, NDJSON and CSV as Accept asks', async () => {
      const q = encodeURIComponent("SELECT a, b FROM http WHERE a = 1");
      expect(await call(`/sql?q=${q}`, { headers: { accept: 'application/ld+json' } })).toMatchObject({
        status: 200,
        body: '{"@context":{"xsd":"http://www.w3.org/2001/XMLSchema#","@vocab":"http://endb.io/"},"@graph":[{"a":1,"b":"x"}]}\n',
      });
      expect(await call(`/sql?q=${q}`, { headers: { accept: 'application/x-ndjson' } })).toMatchObject({ status: 200, body: '{"a":1,"b":"x"}\n' });
      expect(await call(`/sql?q=${q}`, { headers: { accept: 'text/csv' } })).toMatchObject({ status: 200, type: expect.stringContaining('text/csv'), body: '"a","b"\r\n1,"x"\r\n' });
      expect(await call(`/sql?q=${q}`, { headers: { accept: 'text/xml;q=1, application/json;q=0.5' } })).toMatchObject({ status: 200, body: '[[1,"x"]]\n' });
    });

    it("answers statuses in Endb's order: 406, 405 with Allow, 415, 422, 400 for SQL errors and writes over GET", async () => {
      expect(await call('/sql?q=SELECT%201', { headers: { accept: 'text/xml' } })).toMatchObject({ status: 406, body: '' });
      expect(await call('/sql?q=SELECT%201', { method: 'PUT' })).toMatchObject({ status: 405, allow: 'OPTIONS, GET, POST' });
      expect(await call('/sql', { method: 'DELETE', headers: { accept: 'text/xml' } })).toMatchObject({ status: 406 });
      expect(await post('SELECT 1', 'text/plain')).toMatchObject({ status: 415, body: '' });
      expect(await call('/sql')).toMatchObject({ status: 422, body: '' });
      expect(await post('{"p": []}', 'application/json')).toMatchObject({ status: 422 });
      expect(await post('[1]', 'application/json')).toMatchObject({ status: 422 });
      const missing = await call(`/sql?q=${encodeURIComponent('SELECT * FROM nowhere')}`);
      expect(missing).toMatchObject({ status: 400, type: expect.stringContaining('text/plain'), body: expect.stringContaining('Unknown table: nowhere') });
      expect(await call(`/sql?q=${encodeURIComponent("INSERT INTO http {a: 100}")}`)).toMatchObject({ status: 400, body: '' });
      expect(await post('BEGIN', 'application/sql')).toMatchObject({ status: 400, body: 'Explicit transactions not supported\n' });
      expect(await post('ROLLBACK', 'application/sql')).toMatchObject({ status: 200, body: '[[true]]\n' });
      expect(await call(`/sql?q=SELECT%201&p=nope`)).toMatchObject({ status: 400, body: 'Invalid parameters: nope\n' });
      expect(await call('/sql?q=SELECT%20count(*)%20FROM%20http%20WHERE%20a%20=%20100')).toMatchObject({ status: 200, body: '[[0]]\n' });
      const options = await call('/sql', { method: 'OPTIONS' });
      expect(options).toMatchObject({ status: 204, allow: 'OPTIONS, GET, POST' });
    });
  });
});

describe('Endb SQL dialect with basic auth', () => {
  const fx = useServer({ SQL_USERNAME: 'zig', SQL_PASSWORD: 'zag' });
  const basic = `Basic ${Buffer.from('zig:zag').toString('base64')}`;

  it('HTTP: 401 with a Basic challenge without the credentials, the answer with them', async () => {
    const refused = await fetch(`${fx.server.url}/sql?q=SELECT%201`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Basic realm="restricted area"');
    const wrong = await fetch(`${fx.server.url}/sql?q=SELECT%201`, { headers: { authorization: `Basic ${Buffer.from('zig:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`${fx.server.url}/sql?q=SELECT%201`, { headers: { authorization: basic } });
    expect([ok.status, await ok.text()]).toEqual([200, '[[1]]\n']);
  });

  it('WebSocket: 401 before the upgrade; Authorization or the encoded subprotocol (echoed in the 101) let it in', async () => {
    await expect(RpcSocket.open(fx.ws)).rejects.toMatchObject({ status: 401, headers: expect.objectContaining({ 'www-authenticate': 'Basic realm="restricted area"' }) });
    const byHeader = await RpcSocket.open(fx.ws, { headers: { authorization: basic } });
    expect(await byHeader.rows('SELECT 1')).toEqual([{ column1: 1 }]);
    await byHeader.close();
    const protocol = encodeURIComponent(basic);
    const byProtocol = await RpcSocket.open(fx.ws, { protocols: [protocol] });
    expect(byProtocol.protocol).toBe(protocol);
    expect(await byProtocol.rows('SELECT 2')).toEqual([{ column1: 2 }]);
    await byProtocol.close();
  });
});
