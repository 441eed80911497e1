import type { Logger } from '@nestjs/common';

/**
 * A warning for a condition that repeats while it lasts (a database outage seen by every probe or poll):
 * logged the first time, then at most once per interval.
 */
export class ThrottledWarning {
  private lastLogged = -Infinity;

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly intervalMs = 30_000,
  ) {}

  warn(message: string): void {
    const now = Date.now();
    if (now - this.lastLogged < this.intervalMs) return;
    this.lastLogged = now;
    this.logger.warn(message);
  }
}
