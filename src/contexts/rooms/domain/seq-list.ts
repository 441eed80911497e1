/**
 * An immutable, ascending list of seq numbers whose append is O(1): versions share one buffer, and an
 * older version that appends again (after a retry) gets a copy. Keeps a long stream's state cheap.
 */
export class SeqList {
  static readonly EMPTY = new SeqList([], 0);

  private constructor(
    private readonly buffer: number[],
    readonly size: number,
  ) {}

  static of(...seqs: number[]): SeqList {
    return SeqList.from(seqs);
  }

  /** Takes `seqs` (ascending) as its buffer. */
  static from(seqs: number[]): SeqList {
    return new SeqList(seqs, seqs.length);
  }

  append(seq: number): SeqList {
    if (this.size === 0) return new SeqList([seq], 1);
    if (this.size === this.buffer.length) {
      this.buffer.push(seq);
      return new SeqList(this.buffer, this.size + 1);
    }
    return new SeqList([...this.buffer.slice(0, this.size), seq], this.size + 1);
  }

  /** How many seqs are greater than `seq` (binary search: the list is ascending). */
  countAbove(seq: number): number {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.buffer[mid] <= seq) low = mid + 1;
      else high = mid;
    }
    return this.size - low;
  }

  /** Drops seqs up to `seq` and puts `seq` first. */
  compactTo(seq: number): SeqList {
    const kept = this.countAbove(seq);
    return SeqList.from([seq, ...this.buffer.slice(this.size - kept, this.size)]);
  }

  toArray(): number[] {
    return this.buffer.slice(0, this.size);
  }
}
