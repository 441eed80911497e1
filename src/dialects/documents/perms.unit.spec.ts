import type { Identity } from '../../contexts/identity/application/authenticate.query.js';
import { ISSUE_MODELS } from './test-support.js';
import type { Verb } from './models.js';
import { grantCovers, grantOf, refusal } from './perms.js';

const me: Identity = { userId: 'me', email: 'me@x', name: 'Me', admin: false, groups: [] };
const admin: Identity = { ...me, userId: 'boss', admin: true };
const editor: Identity = { ...me, userId: 'ed', groups: ['editors'] };
const mine = { _owner_id: 'me' };
const theirs = { _owner_id: 'someone-else' };

type Role = 'anonymous' | 'user' | 'admin';
const who: Record<Role, Identity | null> = { anonymous: null, user: me, admin };

/** What each role may do to a document it owns / does not own (the issue's models; ✓ allowed, else the 403 message). */
const MATRIX: Record<'test' | 'secret', Record<Role, Record<Verb, [own: string, notOwn: string]>>> = {
  test: {
    anonymous: { c: ['User not logged in', 'User not logged in'], r: ['✓', '✓'], u: ['User not logged in', 'User not logged in'], d: ['User not logged in', 'User not logged in'] },
    user: { c: ['✓', '✓'], r: ['✓', '✓'], u: ['✓', 'Authorization failed - u'], d: ['✓', 'Authorization failed - d'] },
    admin: { c: ['✓', '✓'], r: ['✓', '✓'], u: ['✓', '✓'], d: ['✓', '✓'] },
  },
  secret: {
    anonymous: { c: ['User not logged in', 'User not logged in'], r: ['User not logged in', 'User not logged in'], u: ['User not logged in', 'User not logged in'], d: ['User not logged in', 'User not logged in'] },
    user: { c: ['✓', '✓'], r: ['✓', 'Authorization failed - r'], u: ['Authorization failed - u', 'Authorization failed - u'], d: ['Authorization failed - d', 'Authorization failed - d'] },
    admin: { c: ['✓', '✓'], r: ['✓', '✓'], u: ['✓', '✓'], d: ['✓', '✓'] },
  },
};

function decide(perms: Record<string, string>, identity: Identity | null, verb: Verb, doc: Record<string, unknown>): string {
  const grant = grantOf(perms, identity, verb);
  if (grant.kind === 'denied') return grant.message;
  return grantCovers(grant, doc) ? '✓' : refusal(grant, verb);
}

describe('permissions (JXP order: all → logged in → admin → user → groups → owner)', () => {
  const cases = Object.entries(MATRIX).flatMap(([model, roles]) =>
    Object.entries(roles).flatMap(([role, verbs]) => Object.entries(verbs).map(([verb, [own, notOwn]]) => ({ model, role, verb, own, notOwn }))),
  );
  it.each(cases)('$model: $role $verb → own $own, not own $notOwn', ({ model, role, verb, own, notOwn }) => {
    const perms = ISSUE_MODELS[model as 'test' | 'secret'].perms as Record<string, string>;
    expect(decide(perms, who[role as Role], verb as Verb, mine.constructor === Object && role === 'admin' ? { _owner_id: 'boss' } : mine)).toBe(own);
    expect(decide(perms, who[role as Role], verb as Verb, theirs)).toBe(notOwn);
  });

  it('grants by group, and never takes built-in role names as groups', () => {
    expect(grantOf({ admin: 'crud', editors: 'u' }, editor, 'u')).toEqual({ kind: 'all' });
    expect(grantOf({ admin: 'crud', editors: 'u' }, editor, 'd')).toEqual({ kind: 'denied', message: 'Authorization failed - d' });
    expect(grantOf({ admin: 'crud' }, { ...me, groups: ['admin'] }, 'r')).toEqual({ kind: 'denied', message: 'Authorization failed - r' });
    expect(grantOf({ admin: 'crud', owner: 'r' }, me, 'r')).toEqual({ kind: 'owner', userId: 'me' });
  });
});
