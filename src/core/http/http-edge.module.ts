import { Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { DecodeJsonBody } from './decode-json-body.interceptor.js';
import { EdgeErrorFilter, EdgeErrors } from './edge-errors.js';

/** HTTP plumbing shared by the dialects: in-route body decoding, and answers for requests no route took. */
@Global()
@Module({
  providers: [EdgeErrors, DecodeJsonBody, { provide: APP_FILTER, useClass: EdgeErrorFilter }],
  exports: [EdgeErrors, DecodeJsonBody],
})
export class HttpEdgeModule {}
