import { type DynamicModule, Module } from '@nestjs/common';
import { TidelineConfigModule } from './core/config/config.module.js';
import { DatabaseModule } from './core/database/database.module.js';
import { EventStoreModule } from './core/event-store/event-store.module.js';
import { HealthModule } from './core/health/health.module.js';
import { HttpEdgeModule } from './core/http/http-edge.module.js';
import { ProjectionsModule } from './core/projections/projections.module.js';
import { JetDialectModule } from './dialects/jet/jet-dialect.module.js';
import { RoomsDialectModule } from './dialects/rooms/rooms-dialect.module.js';
import { SqlDialectModule } from './dialects/sql/sql-dialect.module.js';
import { DocumentsDialectModule } from './dialects/documents/documents-dialect.module.js';
import { LiveDialectModule } from './dialects/live/live-dialect.module.js';

/** Core first, then one module per dialect (each imports the context it speaks for). */
@Module({})
export class AppModule {
  static forEnvironment(env: Record<string, string | undefined>): DynamicModule {
    return {
      module: AppModule,
      imports: [TidelineConfigModule.forEnvironment(env), DatabaseModule, EventStoreModule, ProjectionsModule, HealthModule, HttpEdgeModule, RoomsDialectModule, JetDialectModule, SqlDialectModule, DocumentsDialectModule.forEnvironment(env), LiveDialectModule],
    };
  }
}
