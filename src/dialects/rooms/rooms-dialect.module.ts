import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { RoomsModule } from '../../contexts/rooms/rooms.module.js';
import { DriftErrorFilter } from './drift-error.filter.js';
import { RoomSession } from './room-session.js';
import { RoomUpgradeGuard } from './room-upgrade.guard.js';
import { RoomsController } from './rooms.controller.js';
import { RoomsGateway } from './rooms.gateway.js';

/** The DriftDB-compatible dialect: HTTP room routes and the room socket. */
@Module({
  imports: [CqrsModule, RoomsModule],
  controllers: [RoomsController],
  providers: [RoomSession, RoomUpgradeGuard, RoomsGateway, { provide: APP_FILTER, useClass: DriftErrorFilter }],
})
export class RoomsDialectModule {}
