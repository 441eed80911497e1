import { Inject, Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { RoomExistsQuery } from '../../contexts/rooms/application/commands.js';
import { accept, refuse, type UpgradeDecision, type UpgradeGuard, type UpgradeRequest } from '../../core/realtime/upgrade-guard.js';

/**
 * DriftDB rooms need no credentials; an unknown room is refused with a 404 before any socket exists (and,
 * when the room cannot be looked up, the adapter refuses with 503).
 */
@Injectable()
export class RoomUpgradeGuard implements UpgradeGuard {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  async decide({ params }: UpgradeRequest): Promise<UpgradeDecision> {
    return (await this.queries.execute(new RoomExistsQuery(params.id))) ? accept() : refuse(404, 'room not found');
  }
}
