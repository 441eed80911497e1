import { Inject, Injectable, Logger } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ClosedError, DomainError, OverloadedError, UnavailableError } from '../../core/errors/domain-errors.js';
import { GetStreamQuery, PushToRoomCommand } from '../../contexts/rooms/application/commands.js';
import type { ClientMessage, ServerMessage } from './drift-protocol.js';

/**
 * Turns one validated DriftDB message into commands and queries, and returns what the sender is owed:
 * `stream_size` after a push that leaves more than one entry, `init` for a `get`, `pong` for a `ping`.
 * Shared by the socket and the HTTP `send` route.
 */
@Injectable()
export class RoomSession {
  private readonly logger = new Logger(RoomSession.name);

  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  /** `overHttp`: the sender hears no broadcasts, so a `get` may read the room's log first (see GetStreamQuery). */
  async handle(roomId: string, message: ClientMessage, overHttp = false): Promise<ServerMessage | null> {
    try {
      switch (message.type) {
        case 'push': {
          const { size } = await this.commands.execute(
            new PushToRoomCommand(roomId, message.key, message.value, message.action, message.binary),
          );
          return size > 1 ? { type: 'stream_size', key: message.key, size } : null;
        }
        case 'get': {
          if (message.seq === null) return null; // subscribed already (every connection hears its room); no history wanted
          const entries = await this.queries.execute(new GetStreamQuery(roomId, message.key, message.seq, overHttp));
          return { type: 'init', key: message.key, data: entries };
        }
        case 'ping':
          return { type: 'pong', nonce: message.nonce };
      }
    } catch (error) {
      return { type: 'error', message: this.explain(error) };
    }
  }

  private explain(error: unknown): string {
    if (error instanceof DomainError) return error.message;
    if (error instanceof OverloadedError) return `server busy, message not applied: ${error.message}`;
    if (error instanceof ClosedError) return 'server shutting down, message not applied';
    if (error instanceof UnavailableError) return 'database unavailable, message not applied; try again';
    this.logger.warn(`push failed: ${(error as Error).message}`);
    return 'message could not be stored and was not applied; try again';
  }
}
