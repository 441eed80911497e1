import { Inject, Injectable, Module, type OnApplicationBootstrap, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { DEFAULT_ACTOR_OPTIONS } from '../../core/actors/actor-system.js';
import { Database } from '../../core/database/database.js';
import { DatabaseModule } from '../../core/database/database.module.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { EventFeed } from '../../core/projections/event-feed.js';
import { ProjectionRuntime } from '../../core/projections/projection-runtime.js';
import { PublishingAppender } from '../../core/projections/publishing-appender.js';
import { apiKeysDecider } from './domain/api-keys.js';
import { userDecider } from './domain/user.js';
import { parseDuration } from './application/durations.js';
import { IDENTITY_HANDLERS } from './application/handlers.js';
import { ApiKeyActors, IdentityService, UserActors, type IdentitySettings } from './application/identity-service.js';
import { SigningSecret } from './application/signing-secret.js';
import { UserDirectory } from './application/user-directory.js';
import { identityProjector } from './read-model/identity-projector.js';
import { CreateIdentity1766300000000 } from './read-model/migrations/1766300000000-create-identity.js';

/** The identity settings from the validated environment (src/core/config/environment.ts). */
export function identitySettings(config: ConfigService): IdentitySettings {
  return {
    accessMs: parseDuration(config.get<string>('JWT_EXPIRES_IN') ?? '24h'),
    refreshMs: parseDuration(config.get<string>('REFRESH_EXPIRES_IN') ?? '30d'),
    cacheMs: Number(config.get('AUTH_CACHE_MS') ?? 30_000),
    cacheSize: Number(config.get('AUTH_CACHE_SIZE') ?? 10_000),
    maxApiKeys: Number(config.get('MAX_API_KEYS_PER_USER') ?? 100),
  };
}

@Injectable()
class IdentityLifecycle implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    @Inject(ProjectionRuntime) private readonly projections: ProjectionRuntime,
    @Inject(IdentityService) private readonly identity: IdentityService,
    @Inject(SigningSecret) private readonly secret: SigningSecret,
    @Inject(ConfigService) private readonly config: ConfigService,
  ) {}

  onModuleInit(): void {
    this.projections.register(identityProjector);
  }

  /** After the projection runtime started (a global module's hooks run first): the secret, then the first admin. */
  async onApplicationBootstrap(): Promise<void> {
    await this.secret.get();
    const email = this.config.get<string>('ADMIN_EMAIL');
    const password = this.config.get<string>('ADMIN_PASSWORD');
    if (email && password) await this.identity.bootstrapAdmin(email, password);
  }

  onModuleDestroy(): void {
    this.identity.stop();
  }
}

/**
 * The identity bounded context: users, API keys and token revocations as events (a stream per user, per
 * user's keys, per user's revocations), an inline read model, and tokens signed with one secret per database.
 */
@Module({
  imports: [CqrsModule, DatabaseModule.forFeature({ migrations: [CreateIdentity1766300000000] })],
  providers: [
    { provide: UserActors, inject: [EventStore, EventFeed], useFactory: (store: EventStore, feed: EventFeed) => new UserActors(userDecider, store, feed, DEFAULT_ACTOR_OPTIONS) },
    { provide: ApiKeyActors, inject: [EventStore, EventFeed], useFactory: (store: EventStore, feed: EventFeed) => new ApiKeyActors(apiKeysDecider, store, feed, DEFAULT_ACTOR_OPTIONS) },
    { provide: UserDirectory, inject: [Database], useFactory: (db: Database) => new UserDirectory(db) },
    { provide: SigningSecret, inject: [EventStore, ConfigService], useFactory: (store: EventStore, config: ConfigService) => new SigningSecret(store, config.get<string>('JWT_SECRET')) },
    {
      provide: IdentityService,
      inject: [PublishingAppender, UserDirectory, UserActors, ApiKeyActors, SigningSecret, ConfigService],
      useFactory: (appender: PublishingAppender, directory: UserDirectory, users: UserActors, keys: ApiKeyActors, secret: SigningSecret, config: ConfigService) =>
        new IdentityService(appender, directory, users, keys, secret, identitySettings(config)),
    },
    IdentityLifecycle,
    ...IDENTITY_HANDLERS,
  ],
})
export class IdentityModule {}
