import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { LOG_LEVELS, validateEnvironment } from './core/config/environment.js';
import { RealtimeWsAdapter } from './core/realtime/realtime-ws-adapter.js';

export type RunningTideline = { app: INestApplication; url: string; port: number; close(): Promise<void> };

/** Builds and starts a Tideline server for an environment (process.env, or a test's own). */
export async function startTideline(env: Record<string, string | undefined> = process.env): Promise<RunningTideline> {
  const settings = validateEnvironment(env);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forEnvironment(env), {
    logger: LOG_LEVELS[settings.LOG_LEVEL],
    bodyParser: false,
  });
  const config = app.get(ConfigService);
  const maxMessageBytes = config.get<number>('MAX_MESSAGE_BYTES')!;
  // A dialect that answers OPTIONS itself (Endb's /sql: 204 with Allow) gets the request after the CORS headers.
  app.enableCors((request, done) => done(null, { origin: '*', preflightContinue: /^\/sql\/?(\?|$)/.test(request.url ?? '') }));
  app.enableShutdownHooks();
  app.useWebSocketAdapter(new RealtimeWsAdapter(app, { maxPayload: maxMessageBytes }));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Tideline')
      .setDescription('Real-time, event-sourced stream server. WebSocket dialects are described in README.md.')
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  await app.listen(config.get<number>('PORT')!, config.get<string>('HOST')!);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const host = settings.HOST === '0.0.0.0' || settings.HOST === '::' ? '127.0.0.1' : settings.HOST;
  return { app, port, url: `http://${host}:${port}`, close: () => app.close() };
}
