import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { type ArgumentsHost, Body, Catch, Controller, type ExceptionFilter, Get, HttpException, Inject, Module, type OnModuleInit, Param, Post, UseFilters, UseInterceptors, type INestApplication } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import type { Response } from 'express';
import { DecodeJsonBody } from './decode-json-body.interceptor.js';
import { EdgeErrors } from './edge-errors.js';
import { HttpEdgeModule } from './http-edge.module.js';

function shaped(dialect: string) {
  @Catch()
  class Filter implements ExceptionFilter {
    catch(error: unknown, host: ArgumentsHost): void {
      const status = error instanceof HttpException ? error.getStatus() : 500;
      host.switchToHttp().getResponse<Response>().status(status).json({ dialect, status, message: (error as Error).message });
    }
  }
  return Filter;
}
const RedFilter = shaped('red');
const BlueFilter = shaped('blue');

@Controller('red')
@UseFilters(RedFilter)
@UseInterceptors(DecodeJsonBody)
class RedController {
  @Post(':id')
  echo(@Param('id') id: string, @Body() body: unknown): unknown {
    return { id, body };
  }
}

@Controller('blue')
@UseFilters(BlueFilter)
class BlueController {
  @Get('fail')
  fail(): never {
    throw new HttpException('blue refuses', 409);
  }
}

@Module({
  imports: [ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => ({ MAX_MESSAGE_BYTES: 64 })] }), HttpEdgeModule],
  controllers: [RedController, BlueController],
})
class EdgeTestModule implements OnModuleInit {
  constructor(@Inject(EdgeErrors) private readonly edges: EdgeErrors) {}
  onModuleInit(): void {
    this.edges.claim({ claims: (path) => path.startsWith('/red/'), render: (error, _req, res) => res.status((error as HttpException).getStatus?.() ?? 500).json({ dialect: 'red', edge: true }) });
  }
}

describe('HTTP errors: each dialect answers its own routes, claimed paths answer what fails before routing', () => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    app = await NestFactory.create(EdgeTestModule, { logger: false, bodyParser: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  const call = async (path: string, init?: RequestInit) => {
    const response = await fetch(url + path, init);
    return { status: response.status, body: await response.json() };
  };
  const post = (path: string, body: string) => call(path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  it('decodes a JSON body inside the route, and its scoped filter answers a body that does not decode or is too large', async () => {
    expect(await post('/red/a', '{"x":1}')).toEqual({ status: 201, body: { id: 'a', body: { x: 1 } } });
    expect(await post('/red/a', '{"x":')).toMatchObject({ status: 400, body: { dialect: 'red', status: 400 } });
    expect(await post('/red/a', JSON.stringify({ x: 'y'.repeat(100) }))).toMatchObject({ status: 413, body: { dialect: 'red' } });
  });

  it("keeps each filter to its own routes", async () => {
    expect(await call('/blue/fail')).toEqual({ status: 409, body: { dialect: 'blue', status: 409, message: 'blue refuses' } });
  });

  it('answers a claimed path that no route took (an undecodable id, a missing method) in its claimant’s shape, and others as Nest does', async () => {
    expect(await call('/red/%zz', { method: 'POST' })).toEqual({ status: 400, body: { dialect: 'red', edge: true } });
    expect(await call('/red/a')).toEqual({ status: 404, body: { dialect: 'red', edge: true } });
    expect(await call('/nowhere')).toMatchObject({ status: 404, body: { statusCode: 404 } });
  });
});
