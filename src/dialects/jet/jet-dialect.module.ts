import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { StreamsModule } from '../../contexts/streams/streams.module.js';
import { EdgeErrors } from '../../core/http/edge-errors.js';
import { jetEdgeErrors } from './jet-error.filter.js';
import { JetExecutor } from './jet-executor.js';
import { JetController } from './jet.controller.js';
import { JetConnections, JetGateway } from './jet.gateway.js';

/** The JSONJet-compatible dialect: `/api/*` over HTTP and the `/ws` socket. */
@Module({
  imports: [CqrsModule, StreamsModule],
  controllers: [JetController],
  providers: [JetExecutor, JetConnections, JetGateway],
})
export class JetDialectModule implements OnModuleInit {
  constructor(@Inject(EdgeErrors) private readonly edges: EdgeErrors) {}

  onModuleInit(): void {
    this.edges.claim(jetEdgeErrors);
  }
}
