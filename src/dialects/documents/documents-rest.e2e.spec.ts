import type { RunningTideline } from '../../app.factory.js';
import { useServersOnOneDatabase } from '../../../test/support/tideline.js';
import { ADMIN, basic, createUser, http, ISSUE_MODELS, modelsFile } from './test-support.js';

/** The issue's models and one whose field refers to the built-in user model. */
const MODELS = { ...ISSUE_MODELS, note: { fields: { title: { type: 'string' }, author: { type: 'string', ref: 'user' } }, perms: { admin: 'crud', user: 'cr', all: 'r' } } };

describe('documents dialect (JXP): REST over the collections', () => {
  const db = useServersOnOneDatabase('tideline-jxp-rest-', { MODELS_FILE: modelsFile(MODELS), ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  let server: RunningTideline;
  const admin = basic(ADMIN);
  const alice = basic({ email: 'alice@example.com', password: 'alice-password' });
  let aliceId: string;
  beforeAll(async () => {
    server = await db.start();
    aliceId = await createUser(server, { name: 'Alice', email: 'alice@example.com', password: 'alice-password' });
  });

  it('describes the models', async () => {
    const { status, body } = await http(server, 'GET', '/jxp/model');
    expect(status).toBe(200);
    expect(body).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'test', perms: { admin: 'crud', owner: 'rud', user: 'cr', all: 'r' } })]));
  });

  it('creates, reads, updates, soft-deletes, undeletes and permanently deletes, with ETags and If-Match', async () => {
    const created = await http(server, 'POST', '/jxp/api/test', { auth: alice, body: { name: 'one', value: 5, junk: 'dropped' } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ status: 'ok', message: 'test created', data: { name: 'one', value: 5, _deleted: false } });
    expect(created.body.data.junk).toBeUndefined();
    expect(created.body.data._id).toMatch(/^[0-9a-f]{24}$/);
    expect(created.headers.get('etag')).toBe('"1"');
    const id = created.body.data._id;
    const got = await http(server, 'GET', `/jxp/api/test/${id}`);
    expect(got.body.data).toMatchObject({ _id: id, name: 'one', _owner_id: expect.any(String) });
    expect(got.headers.get('etag')).toBe('"1"');
    expect((await http(server, 'PUT', `/jxp/api/test/${id}`, { auth: alice, body: { value: 6 }, headers: { 'if-match': '"7"' } })).body).toEqual({ code: 'PreconditionFailed', message: expect.any(String) });
    const put = await http(server, 'PUT', `/jxp/api/test/${id}`, { auth: alice, body: { value: 6, tag: '' }, headers: { 'if-match': '"1"' } });
    expect(put.body).toMatchObject({ status: 'ok', message: 'test updated', data: { name: 'one', value: 6, tag: null } });
    expect(put.headers.get('etag')).toBe('"2"');
    expect((await http(server, 'PUT', `/jxp/api/test/${id}`, { auth: alice, body: { value: 'x' } })).body).toEqual({ code: 'BadRequest', message: 'value must be number' });
    expect((await http(server, 'DELETE', `/jxp/api/test/${id}`, { auth: alice })).body).toEqual({ status: 'ok', message: `test/${id} deleted` });
    expect((await http(server, 'GET', `/jxp/api/test/${id}`)).body).toEqual({ code: 'NotFound', message: `Document ${id} is deleted on test` });
    expect((await http(server, 'PUT', `/jxp/api/test/${id}`, { auth: alice, body: { _deleted: false } })).status).toBe(200);
    expect((await http(server, 'GET', `/jxp/api/test/${id}`)).status).toBe(200);
    expect((await http(server, 'DELETE', `/jxp/api/test/${id}?_permaDelete=1`, { auth: alice, headers: { 'if-match': '*' } })).status).toBe(200);
    expect((await http(server, 'GET', `/jxp/api/test/${id}?showDeleted=1`)).status).toBe(404);
    expect((await http(server, 'POST', '/jxp/api/test', { auth: alice, body: { value: 1 } })).body).toEqual({ code: 'BadRequest', message: 'name is required' });
    expect((await http(server, 'POST', '/jxp/api/test', { body: { name: 'anon' } })).body).toEqual({ code: 'Forbidden', message: 'User not logged in' });
    expect((await http(server, 'GET', '/jxp/api/nothing')).body).toEqual({ code: 'NotFound', message: 'Model nothing not found' });
    expect((await http(server, 'POST', '/jxp/api/test', { auth: alice, body: '{"name": ' })).body.code).toBe('BadRequest');
    const fixed = '0123456789abcdef0123abcd';
    expect((await http(server, 'POST', '/jxp/api/test', { auth: alice, body: { _id: fixed, name: 'fixed' } })).body.data._id).toBe(fixed);
    expect(await http(server, 'POST', '/jxp/api/test', { auth: alice, body: { _id: fixed, name: 'again' } })).toMatchObject({ status: 409, body: { code: 'Conflict', message: expect.any(String) } });
    expect((await http(server, 'POST', '/jxp/api/test', { auth: alice, body: { _id: 'short', name: 'x' } })).body.code).toBe('BadRequest');
    expect((await http(server, 'GET', `/jxp/api/test/${fixed}`, { auth: alice, headers: { 'if-match': '*' } })).status).toBe(200);
    expect(await http(server, 'DELETE', `/jxp/api/test/${fixed}`, { auth: alice, headers: { 'if-match': '"9"' } })).toMatchObject({ status: 412, body: { code: 'PreconditionFailed' } });
    expect(await http(server, 'DELETE', '/jxp/api/test/0123456789abcdef0123ffff', { auth: alice, headers: { 'if-match': '*' } })).toMatchObject({ status: 404, body: { code: 'NotFound' } });
    expect((await http(server, 'DELETE', `/jxp/api/test/${fixed}`, { auth: alice, headers: { 'if-match': '"1"' } })).status).toBe(200);
    expect((await http(server, 'GET', '/jxp/api/test?filter[name]=fixed')).body.data).toEqual([]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[name]=fixed&showDeleted=1')).body.data).toEqual([expect.objectContaining({ _id: fixed, _deleted: true })]);
    const huge = await http(server, 'POST', '/jxp/api/test', { auth: alice, body: { name: 'x'.repeat(1024 * 1024 + 1) } });
    expect(huge.status).toBe(413);
  });

  it('lists with filters, sort, paging, fields, search, count and query', async () => {
    for (let i = 1; i <= 12; i++) await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: `n${i}`, value: i, tag: i % 2 ? 'odd' : 'even' } });
    const list = await http(server, 'GET', '/jxp/api/test?filter[value]=$gte:3&filter[value]=$lt:8&sort[value]=-1');
    expect(list.body).toMatchObject({ limit: 100, page: 1 });
    expect(list.body.data.map((d: any) => d.value)).toEqual([7, 6, 5, 4, 3]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[value]=5')).body.data.map((d: any) => d.name)).toEqual(['n5']);
    expect((await http(server, 'GET', '/jxp/api/test?filter[value]=$in:[1,2]&sort=value')).body.data.map((d: any) => d.value)).toEqual([1, 2]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[value]=$nin:[1,2]&filter[tag]=odd&sort=-value')).body.data.map((d: any) => d.value)).toEqual([11, 9, 7, 5, 3]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[name]=$regex:/^N1/i&sort=value')).body.data.map((d: any) => d.value)).toEqual([1, 10, 11, 12]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[parent]=$exists:true')).body.data).toEqual([]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[value]=abc')).body).toEqual({ code: 'BadRequest', message: 'value: "abc" is not a number' });
    const paged = await http(server, 'GET', '/jxp/api/test?limit=5&page=2&sort=value');
    expect(paged.body).toMatchObject({ limit: 5, page: 2, count: 12, page_count: 3 });
    expect(paged.body.next).toMatch(/^http:\/\/.*\/jxp\/api\/test\?.*page=3/);
    expect(paged.body.prev).toMatch(/page=1/);
    expect(paged.body.data.map((d: any) => d.value)).toEqual([6, 7, 8, 9, 10]);
    const capped = await http(server, 'GET', '/jxp/api/test?limit=5000');
    expect(capped.body).toMatchObject({ limit: 1000, limit_capped: true, count: 12 });
    const fields = await http(server, 'GET', '/jxp/api/test?fields=name&filter[value]=1');
    expect(fields.body.data).toEqual([{ _id: expect.any(String), name: 'n1' }]);
    expect((await http(server, 'GET', '/jxp/api/test?search=N12')).body.data.map((d: any) => d.name)).toEqual(['n12']);
    expect((await http(server, 'GET', '/jxp/count/test?filter[tag]=odd')).body).toEqual({ count: 6 });
    const query = await http(server, 'POST', '/jxp/query/test', { body: { query: { value: { $gt: 10 }, tag: 'even' } } });
    expect(query.status).toBe(200);
    expect(query.body.data.map((d: any) => d.value)).toEqual([12]);
  });

  it('populates refs, cascades deletes, and bulk-writes atomically', async () => {
    const parent = (await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: 'parent' } })).body.data;
    const child = (await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: 'child', parent: parent._id } })).body.data;
    const populated = await http(server, 'GET', `/jxp/api/test/${child._id}?populate=parent`);
    expect(populated.body.data.parent).toMatchObject({ _id: parent._id, name: 'parent' });
    expect((await http(server, 'GET', `/jxp/api/test?populate=parent&filter[name]=child`)).body.data[0].parent.name).toBe('parent');
    const grandchild = (await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: 'grandchild', parent: child._id } })).body.data;
    const bystander = (await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: 'bystander' } })).body.data;
    // Without _cascade only the document goes.
    expect((await http(server, 'DELETE', `/jxp/api/test/${grandchild._id}`, { auth: admin })).status).toBe(200);
    expect((await http(server, 'PUT', `/jxp/api/test/${grandchild._id}`, { auth: admin, body: { _deleted: false } })).status).toBe(200);
    expect((await http(server, 'DELETE', `/jxp/api/test/${parent._id}?_cascade=1`, { auth: admin })).body).toEqual({ status: 'ok', message: `test/${parent._id} deleted` });
    for (const d of [parent, child, grandchild]) expect((await http(server, 'GET', `/jxp/api/test/${d._id}`)).body).toEqual({ code: 'NotFound', message: `Document ${d._id} is deleted on test` });
    expect((await http(server, 'GET', `/jxp/api/test/${bystander._id}`)).status).toBe(200);
    // A permanent cascade removes the (soft-deleted) children from the present too.
    expect((await http(server, 'DELETE', `/jxp/api/test/${parent._id}?_cascade=1&_permaDelete=1`, { auth: admin })).status).toBe(200);
    for (const d of [parent, child, grandchild]) expect((await http(server, 'GET', `/jxp/api/test/${d._id}?showDeleted=1`)).status).toBe(404);
    // All or none: the third operation fails validation, so neither the insert nor the update lands.
    const n1 = (await http(server, 'GET', '/jxp/api/test?filter[name]=n1')).body.data[0];
    const bad = await http(server, 'POST', '/jxp/bulkwrite/test', {
      auth: admin,
      body: [{ insertOne: { document: { name: 'b1' } } }, { updateOne: { filter: { _id: n1._id }, update: { $set: { tag: 'bulk' } } } }, { insertOne: { document: { value: 1 } } }],
    });
    expect(bad).toMatchObject({ status: 400, body: { code: 'BadRequest', message: 'name is required' } });
    expect((await http(server, 'GET', '/jxp/count/test?filter[name]=b1')).body).toEqual({ count: 0 });
    expect((await http(server, 'GET', `/jxp/api/test/${n1._id}`)).body.data.tag).toBe('odd');
    const ok = await http(server, 'POST', '/jxp/bulkwrite/test', {
      auth: admin,
      body: [
        { insertOne: { document: { name: 'b1' } } },
        { insertOne: { document: { name: 'b2', value: 1 } } },
        { updateOne: { filter: { name: 'b2' }, update: { $set: { value: 2 } } } },
        { updateOne: { filter: { name: 'b3' }, update: { value: 3 }, upsert: true } },
        { updateOne: { filter: { _id: n1._id }, update: { value: 1 }, upsert: true } },
        { updateOne: { filter: { name: 'nobody' }, update: { value: 9 } } },
        { replaceOne: { filter: { name: 'b1' }, replacement: { name: 'b1', tag: 'replaced' } } },
        { deleteOne: { filter: { name: 'n12' } } },
      ],
    });
    expect(ok.body).toMatchObject({ status: 'ok', data: { ok: 1, insertedCount: 2, matchedCount: 3, modifiedCount: 2, upsertedCount: 1, deletedCount: 1 } });
    expect(Object.keys(ok.body.data.insertedIds)).toEqual(['0', '1']);
    expect(Object.keys(ok.body.data.upsertedIds)).toEqual(['3']);
    const after = (await http(server, 'GET', '/jxp/api/test?filter[name]=$regex:/^(b[123]|n12)$/&sort=name')).body.data;
    expect(after.map((d: any) => [d.name, d.value ?? null, d.tag ?? null])).toEqual([['b1', null, 'replaced'], ['b2', 2, null], ['b3', 3, null]]);
    expect(after[0]._id).toBe(ok.body.data.insertedIds['0']);
    const many = await http(server, 'POST', '/jxp/bulkwrite/test', { auth: admin, body: [{ updateMany: { filter: { tag: 'odd' }, update: { $set: { tag: 'odd!' } } } }, { deleteMany: { filter: { tag: 'odd!', value: { $gte: 9 } } } }] });
    expect(many.body.data).toMatchObject({ matchedCount: 6, modifiedCount: 6, deletedCount: 2 });
    expect((await http(server, 'GET', '/jxp/count/test?filter[tag]=odd!')).body).toEqual({ count: 4 });
    expect((await http(server, 'POST', '/jxp/bulkwrite/test', { auth: admin, body: { insertOne: {} } })).status).toBe(400);
    expect((await http(server, 'POST', '/jxp/bulkwrite/test', { auth: admin, body: [{ insertOne: { document: { name: 'x' } }, deleteOne: { filter: {} } }] })).body.code).toBe('BadRequest');
    expect((await http(server, 'POST', '/jxp/bulkwrite/test', { auth: alice, body: [{ deleteMany: { filter: {} } }] })).body).toEqual({ code: 'Forbidden', message: 'Bulk operation deleteMany requires admin' });
    // Alice may delete only her own documents: the filter matches none of hers (JXP refuses the whole write; this only skips).
    expect((await http(server, 'POST', '/jxp/bulkwrite/test', { auth: alice, body: [{ deleteOne: { filter: { name: 'b2' } } }] })).body.data).toMatchObject({ deletedCount: 0 });
    expect((await http(server, 'POST', '/jxp/bulkwrite/test', { auth: alice, body: [{ deleteOne: { filter: { _id: after[1]._id } } }] })).body).toEqual({ code: 'Forbidden', message: 'Authorization failed - d' });
  });

  it('checks permissions: owner-only readers list just their own documents; users come from the identity side', async () => {
    const bob = { email: 'bob@example.com', password: 'bob-password' };
    await createUser(server, { name: 'Bob', ...bob });
    const mine = (await http(server, 'POST', '/jxp/api/secret', { auth: alice, body: { name: 'alice secret' } })).body.data;
    const his = (await http(server, 'POST', '/jxp/api/secret', { auth: basic(bob), body: { name: 'bob secret' } })).body.data;
    expect((await http(server, 'GET', '/jxp/api/secret', { auth: alice })).body.data.map((d: any) => d.name)).toEqual(['alice secret']);
    expect((await http(server, 'GET', '/jxp/count/secret', { auth: basic(bob) })).body).toEqual({ count: 1 });
    expect((await http(server, 'GET', '/jxp/api/secret', { auth: admin })).body.data).toHaveLength(2);
    expect((await http(server, 'GET', `/jxp/api/secret/${mine._id}`, { auth: alice })).status).toBe(200);
    expect((await http(server, 'GET', `/jxp/api/secret/${his._id}`, { auth: alice })).body).toEqual({ code: 'Forbidden', message: 'Authorization failed - r' });
    expect((await http(server, 'GET', '/jxp/api/secret')).body).toEqual({ code: 'Forbidden', message: 'User not logged in' });
    expect((await http(server, 'PUT', `/jxp/api/secret/${mine._id}`, { auth: alice, body: { body: 'x' } })).body).toEqual({ code: 'Forbidden', message: 'Authorization failed - u' });
    expect((await http(server, 'GET', '/jxp/api/secret', { auth: basic({ email: 'alice@example.com', password: 'wrong' }) })).status).toBe(403);
    const users = await http(server, 'GET', '/jxp/api/user', { auth: admin });
    expect(users.status).toBe(200);
    expect(users.body.data.map((u: any) => u.email)).toEqual(expect.arrayContaining(['alice@example.com', 'bob@example.com']));
    expect((await http(server, 'GET', '/jxp/model')).body.map((m: any) => m.model)).toEqual(['user', 'test', 'secret', 'note']);
    const openapi = (await http(server, 'GET', '/docs-json')).body;
    for (const model of ['test', 'secret', 'user']) {
      for (const path of [`/jxp/api/${model}`, `/jxp/api/${model}/{id}`, `/jxp/count/${model}`]) expect(Object.values(openapi.paths[path]).every((op: any) => op.tags.includes(model))).toBe(true);
    }
    for (const path of ['/jxp/query/test', '/jxp/bulkwrite/test', '/jxp/query/secret', '/jxp/model']) expect(openapi.paths[path]).toBeDefined();
  });

  it('populates a ref to the user model with the user (never the password), for those who may read that user', async () => {
    const adminId = (await http(server, 'GET', '/jxp/api/user?filter[email]=admin@example.com', { auth: admin })).body.data[0]._id;
    const byAlice = (await http(server, 'POST', '/jxp/api/note', { auth: alice, body: { title: 'mine', author: aliceId } })).body.data;
    const byAdmin = (await http(server, 'POST', '/jxp/api/note', { auth: admin, body: { title: 'theirs', author: adminId } })).body.data;
    const one = await http(server, 'GET', `/jxp/api/note/${byAlice._id}?populate=author`, { auth: alice });
    expect(one.body.data.author).toEqual({ _id: aliceId, name: 'Alice', email: 'alice@example.com', admin: false, groups: [], _owner_id: aliceId, _deleted: false, createdAt: expect.any(String), updatedAt: expect.any(String) });
    const list = await http(server, 'GET', '/jxp/api/note?populate=author&sort=title', { auth: admin });
    expect(list.body.data.map((n: any) => [n.title, n.author.email])).toEqual([['mine', 'alice@example.com'], ['theirs', 'admin@example.com']]);
    expect(JSON.stringify(list.body)).not.toMatch(/password|argon/);
    // Alice may not read the admin's user, and anonymous callers no user: the id stays.
    expect((await http(server, 'GET', `/jxp/api/note/${byAdmin._id}?populate=author`, { auth: alice })).body.data.author).toBe(adminId);
    expect((await http(server, 'GET', `/jxp/api/note/${byAlice._id}?populate=author`)).body.data.author).toBe(aliceId);
  });

  it('bulk-writes with the update operators $set, $unset and $inc; refuses any other operator, naming it', async () => {
    const doc = (await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: 'ops', value: 1, tag: 'gone soon' } })).body.data;
    const ops = await http(server, 'POST', '/jxp/bulkwrite/test', {
      auth: admin,
      body: [
        { updateOne: { filter: { _id: doc._id }, update: { $inc: { value: 41 }, $unset: { tag: '' }, $set: { parent: doc._id } } } },
        { updateOne: { filter: { name: 'ops counter' }, update: { $inc: { value: 2 } }, upsert: true } },
        { updateMany: { filter: { name: 'ops counter' }, update: { $inc: { value: -0.5 } } } },
      ],
    });
    expect(ops.body.data).toMatchObject({ matchedCount: 2, modifiedCount: 2, upsertedCount: 1 });
    const after = (await http(server, 'GET', `/jxp/api/test/${doc._id}`)).body.data;
    expect([after.value, after.tag, after.parent]).toEqual([42, undefined, doc._id]);
    expect((await http(server, 'GET', '/jxp/api/test?filter[name]=ops counter')).body.data.map((d: any) => d.value)).toEqual([1.5]);
    const refused = (update: unknown) => http(server, 'POST', '/jxp/bulkwrite/test', { auth: admin, body: [{ updateOne: { filter: { _id: doc._id }, update } }] });
    expect((await refused({ $push: { tag: 'x' } })).body).toEqual({ code: 'BadRequest', message: 'operation 0: update operator $push is not supported (only $set, $unset, $inc)' });
    expect((await refused({ $inc: { value: 'one' } })).body).toMatchObject({ code: 'BadRequest', message: expect.stringContaining('$inc of value must be a number') });
    expect((await refused({ $inc: { name: 1 } })).body).toMatchObject({ code: 'BadRequest', message: expect.stringContaining('cannot apply $inc to name') });
    expect((await refused({ $unset: { name: '' } })).body).toEqual({ code: 'BadRequest', message: 'name is required' });
    expect((await refused({ $set: { value: 1 }, $inc: { value: 1 } })).body).toMatchObject({ code: 'BadRequest', message: expect.stringContaining('conflict') });
    expect((await refused({ $set: { value: 1 }, tag: 'x' })).status).toBe(400);
    expect((await http(server, 'GET', `/jxp/api/test/${doc._id}`)).body.data.value).toBe(42);
  });

  it('loses no update under concurrent PUTs', async () => {
    const doc = (await http(server, 'POST', '/jxp/api/test', { auth: admin, body: { name: 'race', value: 0 } })).body.data;
    const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const answers = await Promise.all(tags.map((tag) => http(server, 'PUT', `/jxp/api/test/${doc._id}`, { auth: admin, body: { tag }, headers: { 'if-match': '"1"' } })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 412)).toHaveLength(tags.length - 1);
    const puts = await Promise.all(tags.map((tag, i) => http(server, 'PUT', `/jxp/api/test/${doc._id}`, { auth: admin, body: { [`value`]: i, tag } })));
    expect(puts.every((a) => a.status === 200)).toBe(true);
    const final = await http(server, 'GET', `/jxp/api/test/${doc._id}`);
    expect(final.headers.get('etag')).toBe(`"${2 + tags.length}"`);
  });
});
