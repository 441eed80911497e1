import { Injectable, Logger, type LoggerService } from '@nestjs/common';
import { ThrottledWarning } from '../logging/throttled-warning.js';

/**
 * Terminus's logger. A failed probe is expected while the database is away: one warning per outage window
 * instead of an error with the whole report on every probe.
 */
@Injectable()
export class HealthLogger implements LoggerService {
  private readonly logger = new Logger('Health');
  private readonly failedProbe = new ThrottledWarning(this.logger);

  error(): void {
    this.failedProbe.warn('health check failed: the database is not reachable; /health answers 503 until it is');
  }

  warn(message: unknown): void {
    this.logger.warn(message);
  }

  log(message: unknown): void {
    this.logger.log(message);
  }
}
