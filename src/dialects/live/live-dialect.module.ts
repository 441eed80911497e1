import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { StreamsModule } from '../../contexts/streams/streams.module.js';
import { EdgeErrors } from '../../core/http/edge-errors.js';
import { liveEdgeErrors } from './live-error.filter.js';
import { LiveController } from './live.controller.js';
import { WS_STREAM_PROVIDERS } from './ws-stream/ws-stream.gateway.js';

/** The NSDb-compatible dialect: `/data`, `/query`, `/commands/*`, `/status` over HTTP (the `/ws-stream` socket beside it). */
@Module({
  imports: [CqrsModule, StreamsModule],
  controllers: [LiveController],
  providers: [...WS_STREAM_PROVIDERS],
})
export class LiveDialectModule implements OnModuleInit {
  constructor(@Inject(EdgeErrors) private readonly edges: EdgeErrors) {}

  onModuleInit(): void {
    this.edges.claim(liveEdgeErrors);
  }
}
