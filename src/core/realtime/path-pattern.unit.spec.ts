import { compilePathPattern } from './path-pattern.js';

describe('path patterns', () => {
  it('matches params and nothing else', () => {
    const match = compilePathPattern('/room/:id/connect');
    expect(match('/room/abc-1/connect')).toEqual({ id: 'abc-1' });
    expect(match('/room/abc/connect/')).toEqual({ id: 'abc' });
    expect(match('/room//connect')).toBeUndefined();
    expect(match('/room/a/b/connect')).toBeUndefined();
    expect(match('/rooms/a/connect')).toBeUndefined();
  });
});
