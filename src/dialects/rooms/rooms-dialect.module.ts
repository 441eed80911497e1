import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { RoomsModule } from '../../contexts/rooms/rooms.module.js';
import { EdgeErrors } from '../../core/http/edge-errors.js';
import { driftEdgeErrors } from './drift-error.filter.js';
import { RoomSession } from './room-session.js';
import { RoomUpgradeGuard } from './room-upgrade.guard.js';
import { RoomsController } from './rooms.controller.js';
import { RoomsGateway } from './rooms.gateway.js';

/** The DriftDB-compatible dialect: HTTP room routes and the room socket. */
@Module({
  imports: [CqrsModule, RoomsModule],
  controllers: [RoomsController],
  providers: [RoomSession, RoomUpgradeGuard, RoomsGateway],
})
export class RoomsDialectModule implements OnModuleInit {
  constructor(@Inject(EdgeErrors) private readonly edges: EdgeErrors) {}

  onModuleInit(): void {
    this.edges.claim(driftEdgeErrors);
  }
}
