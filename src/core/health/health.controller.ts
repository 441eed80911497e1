import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { Database } from '../database/database.js';
import { ProjectionRuntime } from '../projections/projection-runtime.js';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(Database) private readonly db: Database,
    @Inject(ProjectionRuntime) private readonly projections: ProjectionRuntime,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness, database readiness (503 while the database is unreachable) and each projector\'s position, lag and failure' })
  check() {
    return this.health.check([() => this.database(), () => this.projectors()]);
  }

  /** Each projector's position, lag and failure, as details: a stalled projector is reported, not a reason for 503. */
  private async projectors(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('projections');
    try {
      const statuses = await Promise.race([
        this.projections.status(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
      return indicator.up(Object.fromEntries(statuses.map(({ name, ...status }) => [name, status])));
    } catch {
      return indicator.up({ unknown: 'the database is not reachable' });
    }
  }

  private async database(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('database');
    const ready = await Promise.race([this.db.isReady(), new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref())]);
    return ready ? indicator.up({ backend: this.db.kind }) : indicator.down({ backend: this.db.kind });
  }
}
