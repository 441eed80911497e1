import { randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Req, Res, UseFilters, UseInterceptors } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBody, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CreateRoomCommand, RoomExistsQuery } from '../../contexts/rooms/application/commands.js';
import { DecodeJsonBody } from '../../core/http/decode-json-body.interceptor.js';
import { DriftErrorFilter } from './drift-error.filter.js';
import { encodeFrame, parseClientMessage, ProtocolError } from './drift-protocol.js';
import { RoomSession } from './room-session.js';
import { roomUrls, type RoomUrls } from './room-urls.js';
import { RoomDto, RoomMessageDto, RoomReplyDto } from './rooms.dto.js';

@ApiTags('rooms (DriftDB)')
@Controller()
@UseFilters(DriftErrorFilter)
@UseInterceptors(DecodeJsonBody)
export class RoomsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(RoomSession) private readonly session: RoomSession,
    @Inject(ConfigService) private readonly config: ConfigService,
  ) {}

  @Post('new')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a room' })
  @ApiOkResponse({ type: RoomDto })
  async create(@Req() request: Request): Promise<RoomUrls> {
    const { roomId } = await this.commands.execute(new CreateRoomCommand(randomUUID()));
    return roomUrls(roomId, request, this.config.get('PUBLIC_URL'));
  }

  @Get('room/:id')
  @ApiOperation({ summary: "A room's URLs" })
  @ApiParam({ name: 'id', description: 'Room id' })
  @ApiOkResponse({ type: RoomDto })
  @ApiNotFoundResponse({ description: 'No such room' })
  async get(@Param('id') id: string, @Req() request: Request): Promise<RoomUrls> {
    await this.requireRoom(id);
    return roomUrls(id, request, this.config.get('PUBLIC_URL'));
  }

  @Post('room/:id/send')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send a DriftDB message over HTTP', description: 'Answers `null`, or the reply a socket would get (init, stream_size, pong, error).' })
  @ApiParam({ name: 'id', description: 'Room id' })
  @ApiBody({ type: RoomMessageDto })
  @ApiOkResponse({ type: RoomReplyDto, description: 'The reply, or null' })
  @ApiNotFoundResponse({ description: 'No such room' })
  async send(@Param('id') id: string, @Body() body: unknown, @Res() response: Response): Promise<void> {
    await this.requireRoom(id);
    let reply;
    try {
      reply = await this.session.handle(id, parseClientMessage(body), true);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      reply = { type: 'error' as const, message: error.message };
    }
    const status = reply?.type === 'error' ? 400 : 200;
    response.status(status).type('application/json').send(reply ? encodeFrame(reply, false).data : 'null');
  }

  private async requireRoom(id: string): Promise<void> {
    if (!(await this.queries.execute(new RoomExistsQuery(id)))) throw new NotFoundException('room not found');
  }
}
