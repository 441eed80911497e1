import { type DynamicModule, Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Database } from './database.js';
import { contextSchemas, registerContextSchema, type ContextSchema } from './context-schemas.js';
import { databaseTarget } from './data-source-options.js';

@Injectable()
class DatabaseCloser implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}

/** Holds nothing: importing it is how a context's schema is declared before the database opens. */
@Module({})
class DatabaseFeatureModule {}

/** PostgreSQL when DATABASE_URL is set, else PGlite in DATA_DIR; migrations run at boot. */
@Global()
@Module({
  providers: [
    {
      provide: Database,
      inject: [ConfigService],
      useFactory: (config: ConfigService) =>
        Database.open(
          databaseTarget({
            DATABASE_URL: config.get('DATABASE_URL'),
            DATA_DIR: config.get('DATA_DIR'),
            DATABASE_QUERY_TIMEOUT_MS: config.get('DATABASE_QUERY_TIMEOUT_MS'),
          }),
          contextSchemas(),
        ),
    },
    DatabaseCloser,
  ],
  exports: [Database],
})
export class DatabaseModule {
  /** A context's tables: `imports: [DatabaseModule.forFeature({ entities, migrations })]` in its module. */
  static forFeature(schema: ContextSchema): DynamicModule {
    registerContextSchema(schema);
    return { module: DatabaseFeatureModule };
  }
}
