import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { validateEnvironment } from './environment.js';

/**
 * Configuration from an environment (process.env in production, a test's own in tests), validated
 * once at boot against the Environment schema; a bad value stops the boot with the variable named.
 */
@Module({})
export class TidelineConfigModule {
  static forEnvironment(env: Record<string, string | undefined>): DynamicModule {
    const validated = { ...validateEnvironment(env) };
    return {
      module: TidelineConfigModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          skipProcessEnv: true,
          validatePredefined: false,
          cache: true,
          load: [() => validated],
        }),
      ],
    };
  }
}
