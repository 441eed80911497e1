import { SQL_ADMIN, type SqlWriter } from '../../contexts/collections/documents/table-policies.js';
import { parseModels } from './models.js';
import { sqlPolicyOf } from './sql-policy.js';
import { ISSUE_MODELS } from './test-support.js';

const models = parseModels({ ...ISSUE_MODELS, grouped: { fields: { name: { type: 'string' } }, perms: { admin: 'r', editors: 'cud', owner: 'u' } } });
const policy = (name: string) => sqlPolicyOf(models.get(name)!);

const me: SqlWriter = { userId: 'me', name: 'Me', email: 'me@x', admin: false, groups: [] };
const editor: SqlWriter = { ...me, userId: 'ed', groups: ['editors'] };
const admin: SqlWriter = { ...me, userId: 'boss', admin: true };
const mine = { _id: 'a', name: 'n', _owner_id: 'me' };
const theirs = { _id: 'b', name: 'n', _owner_id: 'someone-else' };
const unowned = { _id: 'c', name: 'n', _owner_id: null };

/** What a writer's SQL INSERT, UPDATE and DELETE do to a row it owns / does not own: ✓, or the refusal. */
const MATRIX: [model: string, who: string, writer: SqlWriter, insert: string, update: [string, string], remove: [string, string]][] = [
  ['test', 'user', me, '✓', ['✓', 'test: Authorization failed - u'], ['✓', 'test: Authorization failed - d']],
  ['test', 'admin', admin, '✓', ['✓', '✓'], ['✓', '✓']],
  ['test', 'sql', SQL_ADMIN, '✓', ['✓', '✓'], ['✓', '✓']],
  ['secret', 'user', me, '✓', ['secret: Authorization failed - u', 'secret: Authorization failed - u'], ['secret: Authorization failed - d', 'secret: Authorization failed - d']],
  ['grouped', 'editor', editor, '✓', ['✓', '✓'], ['✓', '✓']],
  ['grouped', 'user', me, 'grouped: Authorization failed - c', ['✓', 'grouped: Authorization failed - u'], ['grouped: Authorization failed - d', 'grouped: Authorization failed - d']],
  // An identity admin holds what the model grants `admin` (here `r`), then what anyone may; the SQL dialect's own admin, everything.
  ['grouped', 'admin', admin, 'grouped: Authorization failed - c', ['✓', 'grouped: Authorization failed - u'], ['grouped: Authorization failed - d', 'grouped: Authorization failed - d']],
  ['grouped', 'sql', SQL_ADMIN, '✓', ['✓', '✓'], ['✓', '✓']],
];

const outcome = (work: () => unknown): string => {
  try {
    work();
    return '✓';
  } catch (error) {
    return (error as Error).message;
  }
};

describe('SQL writes to a model’s table (sqlPolicyOf)', () => {
  it.each(MATRIX)('%s × %s', (model, _who, writer, insert, update, remove) => {
    const p = policy(model);
    const own = writer === SQL_ADMIN ? unowned : { ...mine, _owner_id: writer.userId };
    expect(outcome(() => p.prepareInsert({ name: 'new' }, writer))).toBe(insert);
    expect([outcome(() => p.prepareUpdate({ ...own, name: 'm' }, own, writer)), outcome(() => p.prepareUpdate({ ...theirs, name: 'm' }, theirs, writer))]).toEqual(update);
    expect([outcome(() => p.checkDelete(own, writer)), outcome(() => p.checkDelete(theirs, writer))]).toEqual(remove);
  });

  it('gives an INSERT the writer as owner (null for the SQL admin), and keeps ownership and ids as they are', () => {
    expect(policy('test').prepareInsert({ name: 'x' }, me).doc).toMatchObject({ name: 'x', _owner_id: 'me', _deleted: false, _id: expect.stringMatching(/^[0-9a-f]{24}$/) });
    expect(policy('test').prepareInsert({ name: 'x' }, SQL_ADMIN).doc._owner_id).toBeNull();
    expect(policy('test').prepareInsert({ name: 'x', _owner_id: 'someone' }, admin).doc._owner_id).toBe('someone');
    expect(outcome(() => policy('test').prepareInsert({ name: 'x', _owner_id: 'someone' }, me))).toMatch(/_owner_id/);
    expect(outcome(() => policy('test').prepareUpdate({ ...mine, _owner_id: 'someone' }, mine, me))).toMatch(/_owner_id/);
    expect(policy('test').prepareUpdate({ ...mine, _owner_id: 'someone' }, mine, admin)._owner_id).toBe('someone');
    expect(outcome(() => policy('test').prepareUpdate({ ...mine, _id: 'z' }, mine, admin))).toMatch(/_id cannot be changed/);
    expect(outcome(() => policy('test').prepareUpdate({ ...mine, value: 'seven' }, mine, me))).toBe('test: value must be number');
  });
});
