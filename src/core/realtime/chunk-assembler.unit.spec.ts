import { ChunkAssembler } from './chunk-assembler.js';

const LIMITS = { maxMessageBytes: 1000, chunkBytes: 100, maxPartials: 3, maxPartialBytes: 1000, ttlMs: 1000 };
const chunksOf = (text: string, size = 100) => {
  const bytes = Buffer.from(text);
  return Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size).toString('base64'));
};

describe('chunk assembler', () => {
  it('reassembles chunks in any order, once', () => {
    const assembler = new ChunkAssembler(LIMITS);
    const parts = chunksOf('x'.repeat(250));
    expect(assembler.add('m', 2, 3, parts[2])).toBeUndefined();
    expect(assembler.add('m', 2, 3, parts[2])).toBeUndefined(); // a duplicate changes nothing
    expect(assembler.add('m', 0, 3, parts[0])).toBeUndefined();
    expect(assembler.add('m', 1, 3, parts[1])?.toString()).toBe('x'.repeat(250));
    expect(assembler.pending).toBe(0);
  });

  it('refuses hostile counts and indexes without allocating for them', () => {
    const assembler = new ChunkAssembler(LIMITS);
    for (const [index, total] of [[0, 1e9], [0, 0], [-1, 3], [3, 3], [0.5, 3], [0, NaN], [0, 11]]) {
      expect(assembler.add('h', index, total, 'AAAA')).toBeUndefined();
    }
    expect(assembler.add('h', 0, 2, 'A'.repeat(10_000))).toBeUndefined(); // a chunk longer than any sender cuts
    expect(assembler.pending).toBe(0);
    expect(assembler.rejected).toBe(8);
    assembler.add('c', 0, 3, 'AAAA');
    expect(assembler.add('c', 1, 4, 'AAAA')).toBeUndefined(); // the same id with another count
    expect(assembler.pending).toBe(0);
  });

  it('holds a bounded number of partial messages, and drops stale ones on a prune', () => {
    const assembler = new ChunkAssembler(LIMITS);
    for (let i = 0; i < 10; i++) assembler.add(`p${i}`, 0, 2, 'AAAA', 0);
    expect(assembler.pending).toBe(3);
    assembler.prune(5000);
    expect(assembler.pending).toBe(0);
  });
});
