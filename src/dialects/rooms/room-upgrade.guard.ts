import { Inject, Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { RoomExistsQuery } from '../../contexts/rooms/application/commands.js';
import { accept, refuse, type UpgradeDecision, type UpgradeGuard, type UpgradeRequest } from '../../core/realtime/upgrade-guard.js';

/** DriftDB rooms need no credentials; an unknown room is refused with a 404 before any socket exists. */
@Injectable()
export class RoomUpgradeGuard implements UpgradeGuard {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  async decide({ params }: UpgradeRequest): Promise<UpgradeDecision> {
    try {
      return (await this.queries.execute(new RoomExistsQuery(params.id))) ? accept() : refuse(404, 'room not found');
    } catch {
      return refuse(503, 'database unavailable');
    }
  }
}
