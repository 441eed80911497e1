import { matches, parseListQuery, parseQueryBody } from './list-query.js';
import { parseModels } from './models.js';
import { ISSUE_MODELS } from './test-support.js';

const test = parseModels(ISSUE_MODELS).get('test')!;
const parse = (qs: string) => parseListQuery(test, new URLSearchParams(qs));

describe('list query string', () => {
  it('parses filters with operators, cast to the field type; repeated filters AND', () => {
    expect(parse('filter[value]=$gte:5&filter[value]=$lt:9&filter[name]=x').conditions).toEqual([
      { field: 'value', op: 'gte', value: 5 },
      { field: 'value', op: 'lt', value: 9 },
      { field: 'name', op: 'eq', value: 'x' },
    ]);
    expect(parse('filter[value]=$in:[1,2]').conditions).toEqual([{ field: 'value', op: 'in', value: [1, 2] }]);
    expect(parse('filter[tag]=$nin:[a,b]').conditions).toEqual([{ field: 'tag', op: 'nin', value: ['a', 'b'] }]);
    expect(parse('filter[name]=$regex:/^a/i').conditions).toEqual([{ field: 'name', op: 'regex', pattern: '^a', flags: 'i' }]);
    expect(parse('filter[tag]=$exists:true').conditions).toEqual([{ field: 'tag', op: 'exists', value: true }]);
    expect(parse('filter[_deleted]=true').conditions).toEqual([{ field: '_deleted', op: 'eq', value: true }]);
    expect(() => parse('filter[value]=abc')).toThrow('value: "abc" is not a number');
    expect(() => parse('filter[nope]=1')).toThrow('Unknown field nope on test');
    expect(() => parse('filter[name]=$regex:/(/')).toThrow('invalid regular expression');
    expect(() => parse(Array.from({ length: 70 }, (_, i) => `filter[value]=${i}`).join('&'))).toThrow('Too many filters');
  });

  it('parses sort, paging, limits and the rest', () => {
    expect(parse('sort[value]=-1&sort=name').sort).toEqual([{ field: 'value', direction: -1 }, { field: 'name', direction: 1 }]);
    expect(parse('sort=-value').sort).toEqual([{ field: 'value', direction: -1 }]);
    expect(parse('limit=5000')).toMatchObject({ limit: 1000, limitCapped: true });
    expect(parse('page=2&count=true&fields=a,b&populate=parent&search=x&showDeleted=1')).toMatchObject({ page: 2, count: true, fields: ['a', 'b'], populate: ['parent'], search: 'x', showDeleted: true });
    expect(() => parse('page=0')).toThrow('page must be a positive integer');
  });

  it('parses query bodies with a depth bound, and matches documents the same way', () => {
    const conditions = parseQueryBody(test, { value: { $gt: '3' }, $and: [{ tag: 'a' }] });
    expect(conditions).toEqual([{ field: 'value', op: 'gt', value: 3 }, { field: 'tag', op: 'eq', value: 'a' }]);
    expect(matches({ value: 4, tag: 'a' }, conditions)).toBe(true);
    expect(matches({ value: 3, tag: 'a' }, conditions)).toBe(false);
    expect(matches({ tag: 'a' }, parseQueryBody(test, { value: '5' }))).toBe(false);
    let deep: Record<string, unknown> = { name: 'x' };
    for (let i = 0; i < 10; i++) deep = { $and: [deep] };
    expect(() => parseQueryBody(test, deep)).toThrow('Query nested too deep');
    expect(() => parseQueryBody(test, { $or: [] })).toThrow('Unsupported operator $or');
  });
});
