import { Injectable, Logger, type LoggerService } from '@nestjs/common';

/**
 * Terminus's logger. A failed probe is expected while the database is away: one warning per outage window
 * instead of an error with the whole report on every probe.
 */
@Injectable()
export class HealthLogger implements LoggerService {
  private static readonly QUIET_MS = 30_000;
  private readonly logger = new Logger('Health');
  private lastReported = 0;

  error(): void {
    const now = Date.now();
    if (now - this.lastReported < HealthLogger.QUIET_MS) return;
    this.lastReported = now;
    this.logger.warn('health check failed: the database is not reachable; /health answers 503 until it is');
  }

  warn(message: unknown): void {
    this.logger.warn(message);
  }

  log(message: unknown): void {
    this.logger.log(message);
  }
}
