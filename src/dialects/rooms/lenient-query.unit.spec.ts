import { lenientQuery } from './lenient-query.js';

describe('DriftDB query flags', () => {
  it('reads repeated query marks leniently', () => {
    const q = lenientQuery('/room/x/connect?cbor=true?cbor=true');
    expect(q.get('cbor')).toBe('true');
    expect(lenientQuery('/x?debug=true&cbor=false').get('debug')).toBe('true');
    expect(lenientQuery('/x').get('cbor')).toBeNull();
  });
});
