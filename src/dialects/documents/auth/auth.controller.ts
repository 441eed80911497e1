import { Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, UseFilters, UseInterceptors, type Type } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBody, ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import {
  CreateApiKeyCommand,
  ListApiKeysQuery,
  LoginCommand,
  LogoutCommand,
  RefreshCommand,
  RevokeApiKeyCommand,
  type ApiKeyView,
} from '../../../contexts/identity/application/commands.js';
import { DecodeJsonBody } from '../../../core/http/decode-json-body.interceptor.js';
import { JxpErrorFilter } from '../jxp-error.filter.js';
import { JxpError } from '../jxp-errors.js';
import { jxp } from './identity-errors.js';
import { clientAddress, credentialsOf, JxpAuthenticator } from './jxp-authenticator.js';
import { LoginLimiter } from './login-limiter.js';

function keyDoc(key: ApiKeyView) {
  return { _id: key.id, user_id: key.userId, name: key.name, key_prefix: key.prefix, last4: key.last4, login: key.login, createdAt: key.createdAt };
}

const FORBIDDEN = ApiResponse({ status: 403, description: 'Forbidden {code, message}: no, a bad, an expired or a revoked credential' });
const CREDENTIALS = [
  ApiHeader({ name: 'Authorization', required: false, description: '`Basic base64(email:password)` or `Bearer <token>`' }),
  ApiHeader({ name: 'X-API-Key', required: false, description: 'an API key' }),
  ApiQuery({ name: 'apikey', required: false, description: 'an API key (prefer the header: a query string ends up in logs)' }),
];
const apply = (decorators: MethodDecorator[]): MethodDecorator => (target, key, descriptor) => {
  for (const d of decorators) d(target, key, descriptor);
};

/** JXP's login, refresh, logout and API-key routes under the documents prefix. */
export function authController(prefix: string): Type {
  @ApiTags('jxp auth')
  @Controller(prefix.replace(/^\//, ''))
  @UseFilters(JxpErrorFilter)
  @UseInterceptors(DecodeJsonBody)
  class JxpAuthController {
    constructor(
      @Inject(CommandBus) private readonly commands: CommandBus,
      @Inject(QueryBus) private readonly queries: QueryBus,
      @Inject(JxpAuthenticator) private readonly auth: JxpAuthenticator,
      @Inject(LoginLimiter) private readonly limiter: LoginLimiter,
    ) {}

    @Post('login')
    @HttpCode(200)
    @ApiOperation({ summary: 'Log in with email and password (or Basic auth): tokens and the login API key', description: 'At most 8 attempts at once and 12 a minute per client address (429 TooManyRequests).' })
    @ApiBody({ schema: { type: 'object', required: ['email', 'password'], properties: { email: { type: 'string' }, password: { type: 'string' } } } })
    @ApiResponse({ status: 200, description: '{user_id, apikey, token, token_expires, refresh_token, refresh_token_expires}' })
    @ApiResponse({ status: 403, description: '{"code":"Forbidden","message":"Incorrect email or password"}' })
    @ApiResponse({ status: 429, description: '{"code":"TooManyRequests", message}' })
    async login(@Req() request: Request) {
      const body = (request.body ?? {}) as Record<string, unknown>;
      let email = typeof body.email === 'string' ? body.email : undefined;
      let password = typeof body.password === 'string' ? body.password : undefined;
      if (email === undefined || password === undefined) {
        const credentials = /^\s*basic\s/i.test(request.headers.authorization ?? '') ? credentialsOf(request) : null;
        if (credentials?.basic) ({ email, password } = credentials.basic);
      }
      if (!email || !password) throw new JxpError('Forbidden', 'Missing email or password parameters');
      const result = await this.limiter.run(clientAddress(request), () =>
        jxp(this.commands.execute(new LoginCommand(email, password))).catch((error) => {
          throw error instanceof JxpError && error.code === 'Forbidden' ? new JxpError('Forbidden', 'Incorrect email or password') : error;
        }),
      );
      return {
        user_id: result.userId,
        apikey: result.apikey,
        token: result.token,
        token_expires: result.tokenExpires,
        refresh_token: result.refreshToken,
        refresh_token_expires: result.refreshTokenExpires,
      };
    }

    @Post('refresh')
    @HttpCode(200)
    @ApiOperation({ summary: 'A new token pair for a refresh token (which is revoked: each refresh token works once)' })
    @ApiHeader({ name: 'Authorization', required: true, description: '`Bearer <refresh_token>`' })
    @ApiResponse({ status: 200, description: '{user_id, token, token_expires, refresh_token, refresh_token_expires}' })
    @FORBIDDEN
    async refresh(@Req() request: Request) {
      const match = /^\s*bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      if (!match) throw new JxpError('Forbidden', 'A refresh token is required: Authorization: Bearer <refresh_token>');
      const pair = await jxp(this.commands.execute(new RefreshCommand(match[1])));
      return { user_id: pair.userId, token: pair.token, token_expires: pair.tokenExpires, refresh_token: pair.refreshToken, refresh_token_expires: pair.refreshTokenExpires };
    }

    @Get('logout')
    @ApiOperation({ summary: "Log out: revokes every token issued to the caller so far, on every server (API keys stay)" })
    @ApiSecurity('any credential')
    @apply(CREDENTIALS)
    @ApiResponse({ status: 200, description: '{"status":"ok","message":"User logged out"}' })
    @FORBIDDEN
    async logout(@Req() request: Request) {
      const identity = await this.auth.require(request);
      await jxp(this.commands.execute(new LogoutCommand(identity.userId)));
      return { status: 'ok', message: 'User logged out' };
    }

    @Post('apikey')
    @HttpCode(200)
    @ApiOperation({ summary: "A new API key for the caller: the key is in this answer only (only its SHA-256 is kept)" })
    @apply(CREDENTIALS)
    @ApiBody({ required: false, schema: { type: 'object', properties: { name: { type: 'string' } } } })
    @ApiResponse({ status: 200, description: '{status: "ok", message: "apikey created", data: {_id, user_id, name, key_prefix, last4, createdAt, apikey}}' })
    @FORBIDDEN
    async createKey(@Req() request: Request) {
      const identity = await this.auth.require(request);
      const body = request.body as Record<string, unknown> | undefined;
      const name = body && typeof body === 'object' && typeof body.name === 'string' ? body.name : undefined;
      const { key, apikey } = await jxp(this.commands.execute(new CreateApiKeyCommand(identity.userId, name)));
      return { status: 'ok', message: 'apikey created', data: { ...keyDoc(key), apikey } };
    }

    @Get('apikey')
    @ApiOperation({ summary: "The caller's API keys, without the keys themselves" })
    @apply(CREDENTIALS)
    @ApiResponse({ status: 200, description: '{data: [{_id, user_id, name, key_prefix, last4, login, createdAt}]}' })
    @FORBIDDEN
    async listKeys(@Req() request: Request) {
      const identity = await this.auth.require(request);
      const keys = await jxp(this.queries.execute(new ListApiKeysQuery(identity.userId)));
      return { data: keys.map(keyDoc) };
    }

    @Delete('apikey/:id')
    @ApiOperation({ summary: "Revokes one of the caller's API keys" })
    @ApiParam({ name: 'id', description: "the key's _id" })
    @apply(CREDENTIALS)
    @ApiResponse({ status: 200, description: '{status: "ok", message: "apikey/<id> deleted"}' })
    @ApiResponse({ status: 404, description: '{code: "NotFound", message}' })
    @FORBIDDEN
    async revokeKey(@Req() request: Request, @Param('id') id: string) {
      const identity = await this.auth.require(request);
      await jxp(this.commands.execute(new RevokeApiKeyCommand(identity.userId, id)));
      return { status: 'ok', message: `apikey/${id} deleted` };
    }
  }
  return JxpAuthController;
}
