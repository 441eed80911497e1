import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { CommandBus, CqrsModule, QueryBus } from '@nestjs/cqrs';
import { CollectionsModule } from '../../contexts/collections/collections.module.js';
import { SetTablePolicyCommand } from '../../contexts/collections/documents/table-policies.js';
import { JxpAuthModule } from './auth/jxp-auth.module.js';
import { USER_MODEL } from './auth/user-routes.js';
import { EdgeErrors } from '../../core/http/edge-errors.js';
import { DOCUMENTS_SETTINGS, metaController, modelController, userController, type DocumentsSettings } from './documents.controllers.js';
import { documentsGateway } from './documents.gateway.js';
import { DocumentsService } from './documents.service.js';
import { jxpEdgeErrors } from './jxp-error.filter.js';
import { sqlPolicyOf } from './sql-policy.js';
import { loadModelsFile, USER_MODEL_NAME, type Models } from './models.js';

const MODELS = Symbol('JXP_MODELS');

/**
 * The JXP-compatible documents dialect under DOCUMENTS_PREFIX (default /jxp): REST per model (from
 * MODELS_FILE, validated at boot), GET /model, and the /websocket change feed, over the collections context.
 */
@Module({})
export class DocumentsDialectModule implements OnModuleInit, OnApplicationBootstrap {
  constructor(
    @Inject(EdgeErrors) private readonly edges: EdgeErrors,
    @Inject(DOCUMENTS_SETTINGS) private readonly settings: DocumentsSettings,
    @Inject(MODELS) private readonly models: Models,
    @Inject(CommandBus) private readonly commands: CommandBus,
  ) {}

  static forEnvironment(env: Record<string, string | undefined>): DynamicModule {
    const prefix = (env.DOCUMENTS_PREFIX || '/jxp').replace(/\/$/, '');
    const models: Models = env.MODELS_FILE ? loadModelsFile(env.MODELS_FILE) : new Map();
    const settings: DocumentsSettings = { prefix, publicUrl: env.PUBLIC_URL || undefined };
    return {
      module: DocumentsDialectModule,
      imports: [CqrsModule, CollectionsModule, JxpAuthModule.forPrefix(prefix)],
      controllers: [metaController(prefix, () => USER_MODEL), userController(prefix), ...[...models.values()].map((m) => modelController(prefix, m))],
      providers: [
        { provide: DOCUMENTS_SETTINGS, useValue: settings },
        { provide: MODELS, useValue: models },
        { provide: DocumentsService, inject: [CommandBus, QueryBus], useFactory: (commands: CommandBus, queries: QueryBus) => new DocumentsService(models, commands, queries) },
        documentsGateway(prefix),
      ],
    };
  }

  /** SQL writes to a model's table follow the model (the command handlers exist once the application bootstraps). */
  async onApplicationBootstrap(): Promise<void> {
    for (const model of this.models.values()) await this.commands.execute(new SetTablePolicyCommand(model.name, sqlPolicyOf(model)));
  }

  onModuleInit(): void {
    this.edges.claim(jxpEdgeErrors(this.settings.prefix, () => [USER_MODEL_NAME, ...this.models.keys()]));
  }
}
