import type { ConfigService } from '@nestjs/config';
import { JxpError } from '../jxp-errors.js';

export type LoginLimits = Readonly<{ maxInFlight: number; maxPerMinute: number; maxAddresses: number; windowMs: number }>;

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { maxInFlight: 8, maxPerMinute: 12, maxAddresses: 10_000, windowMs: 60_000 };

type Tracked = { inFlight: number; starts: number[] };

/**
 * Login attempts per client address (POST /login, password auth on the socket): at most `maxInFlight` at
 * once and `maxPerMinute` started in any minute, else 429 TooManyRequests. Memory is bounded: at most
 * `maxAddresses` addresses are tracked (the least recently seen idle ones are forgotten first).
 */
export class LoginLimiter {
  private readonly tracked = new Map<string, Tracked>();
  readonly limits: LoginLimits;

  constructor(
    limits: Partial<LoginLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
  }

  /** LOGIN_MAX_IN_FLIGHT and LOGIN_MAX_PER_MINUTE from the validated environment. */
  static fromConfig(config: ConfigService): LoginLimiter {
    return new LoginLimiter({ maxInFlight: Number(config.get('LOGIN_MAX_IN_FLIGHT') ?? 8), maxPerMinute: Number(config.get('LOGIN_MAX_PER_MINUTE') ?? 12) });
  }

  /** How many addresses are tracked now. */
  get size(): number {
    return this.tracked.size;
  }

  /** Counts an attempt from `address` (429 when over a limit) and returns the function that ends it. */
  acquire(address: string): () => void {
    const now = this.now();
    let entry = this.tracked.get(address);
    if (entry) this.tracked.delete(address); // re-inserted below: most recently seen last
    entry ??= { inFlight: 0, starts: [] };
    while (entry.starts.length > 0 && entry.starts[0] <= now - this.limits.windowMs) entry.starts.shift();
    this.tracked.set(address, entry);
    if (entry.inFlight >= this.limits.maxInFlight) throw new JxpError('TooManyRequests', 'Too many login attempts at once; try again shortly');
    if (entry.starts.length >= this.limits.maxPerMinute) {
      const retryAfter = Math.max(1, Math.ceil((entry.starts[0] + this.limits.windowMs - now) / 1000));
      throw new JxpError('TooManyRequests', `Too many login attempts; try again in ${retryAfter} s`, { retry_after: retryAfter });
    }
    entry.inFlight++;
    entry.starts.push(now);
    this.evict();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.inFlight--;
    };
  }

  /** Runs one attempt from `address` under the limits. */
  async run<T>(address: string, attempt: () => Promise<T>): Promise<T> {
    const release = this.acquire(address);
    try {
      return await attempt();
    } finally {
      release();
    }
  }

  private evict(): void {
    if (this.tracked.size <= this.limits.maxAddresses) return;
    const cutoff = this.now() - this.limits.windowMs;
    // Idle first (nothing in flight, nothing in the window), then the least recently seen whatever their state.
    for (const [address, entry] of this.tracked) {
      if (this.tracked.size <= this.limits.maxAddresses) return;
      if (entry.inFlight === 0 && (entry.starts.at(-1) ?? 0) <= cutoff) this.tracked.delete(address);
    }
    for (const address of this.tracked.keys()) {
      if (this.tracked.size <= this.limits.maxAddresses) return;
      this.tracked.delete(address);
    }
  }
}
