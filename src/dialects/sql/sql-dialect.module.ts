import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { CollectionsModule } from '../../contexts/collections/collections.module.js';
import { IdentityModule } from '../../contexts/identity/identity.module.js';
import { SqlAuthenticator, SqlUpgradeGuard } from './sql-auth.js';
import { SqlController } from './sql.controller.js';
import { SqlGateway } from './sql.gateway.js';
import { SqlRunner } from './sql-runner.js';
import { SQL_DIALECT_SETTINGS, sqlDialectSettings } from './sql-settings.js';

/** The Endb-compatible dialect: JSON-RPC over the `/sql` socket and the `/sql` HTTP API; identity users may sign in to it. */
@Module({
  imports: [CqrsModule, CollectionsModule, IdentityModule],
  controllers: [SqlController],
  providers: [{ provide: SQL_DIALECT_SETTINGS, inject: [ConfigService], useFactory: sqlDialectSettings }, SqlRunner, SqlAuthenticator, SqlUpgradeGuard, SqlGateway],
})
export class SqlDialectModule {}
