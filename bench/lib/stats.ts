/**
 * A small mergeable latency histogram (log-linear buckets, ≤ 0.8% relative error above 1 ms,
 * exact to the microsecond below it). Values are recorded in milliseconds, stored in microseconds,
 * and travel between processes as sparse [bucket, count] pairs.
 */
const LINEAR = 1024; // microseconds recorded exactly
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // sub-buckets per power of two
const MAX_EXP = 40;
const BUCKETS = LINEAR + (MAX_EXP - 10 + 1) * SUB;

export type HistogramJson = { count: number; sumUs: number; maxUs: number; minUs: number; buckets: [number, number][] };

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;
  maxUs = 0;
  minUs = Infinity;

  recordMs(ms: number): void {
    this.recordUs(Math.round(ms * 1000));
  }

  recordUs(us: number): void {
    const v = us < 0 ? 0 : us;
    this.counts[bucketOf(v)]++;
    this.count++;
    this.sumUs += v;
    if (v > this.maxUs) this.maxUs = v;
    if (v < this.minUs) this.minUs = v;
  }

  merge(other: Histogram | HistogramJson): this {
    const o = other instanceof Histogram ? other.toJSON() : other;
    for (const [b, c] of o.buckets) this.counts[b] += c;
    this.count += o.count;
    this.sumUs += o.sumUs;
    this.maxUs = Math.max(this.maxUs, o.maxUs);
    this.minUs = Math.min(this.minUs, o.minUs);
    return this;
  }

  /** p in [0, 100]; milliseconds, or NaN when empty. */
  percentileMs(p: number): number {
    if (this.count === 0) return NaN;
    if (p >= 100) return this.maxUs / 1000;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank) return Math.min(valueOf(b), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  meanMs(): number {
    return this.count ? this.sumUs / this.count / 1000 : NaN;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: this.percentileMs(50),
      p90: this.percentileMs(90),
      p99: this.percentileMs(99),
      p999: this.percentileMs(99.9),
      max: this.count ? this.maxUs / 1000 : NaN,
      mean: this.meanMs(),
    };
  }

  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    for (let b = 0; b < BUCKETS; b++) if (this.counts[b]) buckets.push([b, this.counts[b]]);
    return { count: this.count, sumUs: this.sumUs, maxUs: this.maxUs, minUs: this.count ? this.minUs : 0, buckets };
  }

  static fromJSON(json: HistogramJson): Histogram {
    return new Histogram().merge(json);
  }
}

export type LatencySummary = { count: number; p50: number; p90: number; p99: number; p999: number; max: number; mean: number };

function bucketOf(us: number): number {
  if (us < LINEAR) return us | 0;
  const e = Math.min(MAX_EXP, Math.floor(Math.log2(us)));
  const sub = Math.floor(us / 2 ** (e - SUB_BITS)) - SUB; // 0..SUB-1
  return LINEAR + (e - 10) * SUB + Math.min(SUB - 1, Math.max(0, sub));
}

/** Upper edge of a bucket, so percentiles never under-report. */
function valueOf(b: number): number {
  if (b < LINEAR) return b;
  const e = 10 + Math.floor((b - LINEAR) / SUB);
  const sub = (b - LINEAR) % SUB;
  return (SUB + sub + 1) * 2 ** (e - SUB_BITS);
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
