import { Controller, Delete, Get, Inject, Post, Put, Req, Res, UseFilters, UseInterceptors, type Type } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DecodeJsonBody } from '../../core/http/decode-json-body.interceptor.js';
import { DocumentsService, type Versioned } from './documents.service.js';
import { JxpErrorFilter } from './jxp-error.filter.js';
import type { Model } from './models.js';
import { JxpAuthenticator } from './auth/jxp-authenticator.js';
import { UserRoutes } from './auth/user-routes.js';

/** The injection token of the dialect's settings. */
export const DOCUMENTS_SETTINGS = Symbol('DOCUMENTS_SETTINGS');
export type DocumentsSettings = Readonly<{ prefix: string; publicUrl?: string }>;

const searchOf = (request: Request) => new URLSearchParams(request.originalUrl.includes('?') ? request.originalUrl.slice(request.originalUrl.indexOf('?') + 1) : '');

function pageUrl(settings: DocumentsSettings, request: Request): (page: number) => string {
  const base = settings.publicUrl?.replace(/\/$/, '') ?? `${request.protocol}://${request.get('host')}`;
  return (page) => {
    const params = searchOf(request);
    params.set('page', String(page));
    return `${base}${request.path}?${params.toString()}`;
  };
}

function versioned<T>(response: Response, answer: Versioned<T>): T {
  if (answer.version !== undefined) response.setHeader('ETag', `"${answer.version}"`);
  return answer.body;
}

const header = (request: Request, name: string) => {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};
const flag = (params: URLSearchParams, name: string) => params.get(name) === '1' || params.get(name) === 'true';

const ERRORS = [
  ApiResponse({ status: 400, description: 'BadRequest {code, message} (a validation error names the field)' }),
  ApiResponse({ status: 403, description: 'Forbidden {code, message}: "User not logged in" or "Authorization failed - <verb>"' }),
  ApiResponse({ status: 404, description: 'NotFound {code, message}' }),
];
const apply = (decorators: MethodDecorator[]): MethodDecorator => (target, key, descriptor) => {
  for (const d of decorators) d(target, key, descriptor);
};

/** The model's JSON Schema for request bodies in the OpenAPI document. */
function bodySchema(model: Model, partial: boolean): Record<string, unknown> {
  const properties = Object.fromEntries([...model.fields.values()].map((f) => [f.name, { ...f.schema, ...(f.default !== undefined ? { default: f.default } : {}) }]));
  return { type: 'object', properties, ...(partial || model.required.length === 0 ? {} : { required: [...model.required] }) };
}

/** One controller per model, tagged with the model's name (so the OpenAPI document has one tag per model). */
export function modelController(prefix: string, model: Model): Type {
  const name = model.name;
  const p = prefix.replace(/^\//, '');
  @ApiTags(name)
  @Controller(p)
  @UseFilters(JxpErrorFilter)
  @UseInterceptors(DecodeJsonBody)
  class ModelController {
    constructor(
      @Inject(DocumentsService) private readonly documents: DocumentsService,
      @Inject(JxpAuthenticator) private readonly auth: JxpAuthenticator,
      @Inject(DOCUMENTS_SETTINGS) private readonly settings: DocumentsSettings,
    ) {}

    @Get(`api/${name}`)
    @ApiOperation({ summary: `List ${name} documents`, description: 'filter[f]=v ($gt $gte $lt $lte $ne $in:[..] $nin $regex:/p/i $exists:true), sort[f]=1|-1 or sort=-f, limit (≤1000), page, count, fields, populate, search, showDeleted' })
    @ApiQuery({ name: 'limit', required: false, type: Number })
    @ApiQuery({ name: 'page', required: false, type: Number })
    @ApiResponse({ status: 200, description: '{limit, page, data} (+ count, page_count, next, prev)' })
    @apply(ERRORS)
    async list(@Req() request: Request) {
      const params = searchOf(request);
      return this.documents.list(name, await this.auth.authenticate(request), params, pageUrl(this.settings, request));
    }

    @Get(`api/${name}/:id`)
    @ApiOperation({ summary: `Get one ${name} document` })
    @ApiResponse({ status: 200, description: '{data}, ETag "<version>"' })
    @apply(ERRORS)
    async getOne(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      const params = searchOf(request);
      return versioned(response, await this.documents.getOne(name, await this.auth.authenticate(request), String(request.params.id), params));
    }

    @Post(`api/${name}`)
    @ApiOperation({ summary: `Create a ${name} document` })
    @ApiBody({ schema: bodySchema(model, false) })
    @ApiResponse({ status: 200, description: '{status: "ok", message: "<model> created", data}' })
    @apply(ERRORS)
    async create(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      response.status(200);
      return versioned(response, await this.documents.create(name, await this.auth.authenticate(request), request.body));
    }

    @Put(`api/${name}/:id`)
    @ApiOperation({ summary: `Update a ${name} document (partial; "" sets null; {_deleted: false} undeletes); honours If-Match` })
    @ApiBody({ schema: bodySchema(model, true) })
    @ApiResponse({ status: 200, description: '{status: "ok", message: "<model> updated", data}' })
    @ApiResponse({ status: 412, description: 'PreconditionFailed (If-Match)' })
    @apply(ERRORS)
    async update(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      const identity = await this.auth.authenticate(request);
      return versioned(response, await this.documents.update(name, identity, String(request.params.id), request.body, header(request, 'if-match')));
    }

    @Delete(`api/${name}/:id`)
    @ApiOperation({ summary: `Delete a ${name} document (soft; ?_permaDelete=1 permanent; ?_cascade=1 follows refs); honours If-Match` })
    @ApiResponse({ status: 200, description: '{status: "ok", message: "<model>/<id> deleted"}' })
    @ApiResponse({ status: 412, description: 'PreconditionFailed (If-Match)' })
    @apply(ERRORS)
    async remove(@Req() request: Request) {
      const params = searchOf(request);
      const identity = await this.auth.authenticate(request);
      return this.documents.remove(name, identity, String(request.params.id), { permanent: flag(params, '_permaDelete'), cascade: flag(params, '_cascade'), ifMatch: header(request, 'if-match') });
    }

    @Get(`count/${name}`)
    @ApiOperation({ summary: `Count ${name} documents (same filters as the list)` })
    @ApiResponse({ status: 200, description: '{count}' })
    @apply(ERRORS)
    async count(@Req() request: Request) {
      const params = searchOf(request);
      return this.documents.count(name, await this.auth.authenticate(request), params);
    }

    @Post(`query/${name}`)
    @ApiOperation({ summary: `Query ${name} documents with a body {query} ($and, $eq, $gt, $gte, $lt, $lte, $ne, $in, $nin, $regex, $exists)` })
    @ApiBody({ schema: { type: 'object', properties: { query: { type: 'object' } } } })
    @ApiResponse({ status: 200, description: '{limit, page, data}' })
    @apply(ERRORS)
    async query(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      const params = searchOf(request);
      response.status(200);
      return this.documents.query(name, await this.auth.authenticate(request), request.body, params, pageUrl(this.settings, request));
    }

    @Post(`bulkwrite/${name}`)
    @ApiOperation({
      summary: `Atomic bulk write on ${name} (all or none)`,
      description: 'Mongo bulkWrite operations, one key each: {insertOne: {document}}, {updateOne: {filter, update, upsert?}} (update: fields, or the operators $set, $unset, $inc; any other is a 400 BadRequest), {replaceOne: {filter, replacement, upsert?}}, {deleteOne: {filter}}; admins also updateMany and deleteMany. Filters take the operators of POST /query. Deletes are permanent.',
    })
    @ApiBody({ schema: { type: 'array', items: { type: 'object' } } })
    @ApiResponse({ status: 200, description: '{status: "ok", message, data: {ok, insertedCount, matchedCount, modifiedCount, deletedCount, upsertedCount, insertedIds, upsertedIds}} (ids by operation index)' })
    @apply(ERRORS)
    async bulkWrite(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      response.status(200);
      return this.documents.bulkWrite(name, await this.auth.authenticate(request), request.body);
    }
  }
  Object.defineProperty(ModelController, 'name', { value: `Jxp${name[0].toUpperCase()}${name.slice(1)}Controller` });
  return ModelController;
}

/** `GET <prefix>/model`: the models, the built-in user model included. */
export function metaController(prefix: string, userModel: () => unknown): Type {
  @ApiTags('jxp')
  @Controller(prefix.replace(/^\//, ''))
  @UseFilters(JxpErrorFilter)
  class JxpMetaController {
    constructor(@Inject(DocumentsService) private readonly documents: DocumentsService) {}

    @Get('model')
    @ApiOperation({ summary: 'Every model: [{model, perms, fields}] (the built-in user model included)' })
    @ApiResponse({ status: 200, description: '[{model, perms, fields}]' })
    models() {
      const user = userModel();
      return [...(user ? [user] : []), ...this.documents.describe()];
    }
  }
  return JxpMetaController;
}

/** The built-in `user` model at `<prefix>/api/user` (and count), answered by the identity side's UserRoutes. */
export function userController(prefix: string): Type {
  @ApiTags('user')
  @Controller(prefix.replace(/^\//, ''))
  @UseFilters(JxpErrorFilter)
  @UseInterceptors(DecodeJsonBody)
  class JxpUserController {
    constructor(
      @Inject(UserRoutes) private readonly users: UserRoutes,
      @Inject(JxpAuthenticator) private readonly auth: JxpAuthenticator,
      @Inject(DOCUMENTS_SETTINGS) private readonly settings: DocumentsSettings,
    ) {}

    @Get('api/user')
    @ApiOperation({ summary: 'List users (admin: all; others: themselves)' })
    @apply(ERRORS)
    async list(@Req() request: Request) {
      return this.users.list(await this.auth.authenticate(request), searchOf(request), pageUrl(this.settings, request));
    }

    @Get('api/user/:id')
    @ApiOperation({ summary: 'Get one user (never the password)' })
    @ApiResponse({ status: 200, description: '{data}, ETag "<version>"' })
    @apply(ERRORS)
    async getOne(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      return versioned(response, await this.users.getVersioned(await this.auth.authenticate(request), String(request.params.id), flag(searchOf(request), 'showDeleted')));
    }

    @Post('api/user')
    @ApiOperation({ summary: 'Create a user (admin only; the password is hashed, the email lowercased and unique)' })
    @ApiBody({ schema: { type: 'object', properties: { name: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' }, admin: { type: 'boolean' }, groups: { type: 'array', items: { type: 'string' } } }, required: ['email', 'password'] } })
    @ApiResponse({ status: 200, description: '{status: "ok", message: "user created", data}, ETag "<version>"' })
    @apply(ERRORS)
    async create(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      response.status(200);
      return versioned(response, await this.users.createVersioned(await this.auth.authenticate(request), request.body));
    }

    @Put('api/user/:id')
    @ApiOperation({ summary: 'Update a user (a non-admin: only themselves, never admin or groups); honours If-Match' })
    @ApiBody({ schema: { type: 'object' } })
    @ApiResponse({ status: 200, description: '{status: "ok", message: "user updated", data}, ETag "<version>"' })
    @ApiResponse({ status: 412, description: 'PreconditionFailed (If-Match)' })
    @apply(ERRORS)
    async update(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
      return versioned(response, await this.users.updateVersioned(await this.auth.authenticate(request), String(request.params.id), request.body, header(request, 'if-match')));
    }

    @Delete('api/user/:id')
    @ApiOperation({ summary: 'Delete a user (soft; admin only); honours If-Match' })
    @ApiResponse({ status: 412, description: 'PreconditionFailed (If-Match)' })
    @apply(ERRORS)
    async remove(@Req() request: Request) {
      return this.users.remove(await this.auth.authenticate(request), String(request.params.id), header(request, 'if-match'));
    }

    @Get('count/user')
    @ApiOperation({ summary: 'Count users' })
    @apply(ERRORS)
    async count(@Req() request: Request) {
      return this.users.count(await this.auth.authenticate(request), searchOf(request));
    }
  }
  return JxpUserController;
}
