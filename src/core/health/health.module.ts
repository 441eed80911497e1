import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { HealthLogger } from './health-logger.js';

@Module({ imports: [TerminusModule.forRoot({ logger: HealthLogger })], controllers: [HealthController] })
export class HealthModule {}
