import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { IdentityModule } from '../../../contexts/identity/identity.module.js';
import { authController } from './auth.controller.js';
import { JxpAuthenticator } from './jxp-authenticator.js';
import { LoginLimiter } from './login-limiter.js';
import { UserRoutes } from './user-routes.js';

/** DOCUMENTS_PREFIX as the documents dialect reads it (no trailing slash; default /jxp). */
export function documentsPrefix(env: Record<string, string | undefined>): string {
  return (env.DOCUMENTS_PREFIX || '/jxp').replace(/\/+$/, '') || '/jxp';
}

/**
 * Identity for the documents dialect: JxpAuthenticator (credentials of a request or a socket's `auth`),
 * LoginLimiter, UserRoutes (the built-in user model), and the login/refresh/logout/apikey routes under the
 * prefix. Import `JxpAuthModule.forPrefix(prefix)` once (it declares the routes); the providers are exported.
 */
@Module({
  imports: [CqrsModule, IdentityModule],
  providers: [{ provide: LoginLimiter, inject: [ConfigService], useFactory: (config: ConfigService) => LoginLimiter.fromConfig(config) }, JxpAuthenticator, UserRoutes],
  exports: [JxpAuthenticator, LoginLimiter, UserRoutes],
})
export class JxpAuthModule {
  private static readonly byPrefix = new Map<string, DynamicModule>();

  /** The same module for the same prefix, so that importing it twice (the app and the dialect) declares the routes once. */
  static forPrefix(prefix = '/jxp'): DynamicModule {
    let module = JxpAuthModule.byPrefix.get(prefix);
    if (!module) JxpAuthModule.byPrefix.set(prefix, (module = { module: JxpAuthModule, controllers: [authController(prefix)] }));
    return module;
  }

  static forEnvironment(env: Record<string, string | undefined>): DynamicModule {
    return JxpAuthModule.forPrefix(documentsPrefix(env));
  }
}
