import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class RoomDto {
  @ApiProperty({ description: 'Room id (UUID v4)', example: '6f1c0e5e-8a43-4d1f-9a0e-2b7c1f0d3a51' })
  room: string;

  @ApiProperty({ example: 'ws://localhost:3333/room/6f1c0e5e-8a43-4d1f-9a0e-2b7c1f0d3a51/connect' })
  socket_url: string;

  @ApiProperty({ example: 'http://localhost:3333/room/6f1c0e5e-8a43-4d1f-9a0e-2b7c1f0d3a51/send' })
  http_url: string;
}

/** The same JSON a socket accepts; validated by the DriftDB codec, which answers in DriftDB's shape. */
export class RoomMessageDto {
  @ApiProperty({ enum: ['push', 'get', 'ping'] })
  type: string;

  @ApiPropertyOptional({ description: 'Stream key (push, get)' })
  key?: string;

  @ApiPropertyOptional({ description: 'Any JSON value (push)' })
  value?: unknown;

  @ApiPropertyOptional({ description: '{"type": "relay" | "append" | "replace"} or {"type": "compact", "seq": n} (push)', example: { type: 'append' } })
  action?: unknown;

  @ApiPropertyOptional({ description: 'Return entries with a greater seq (get); default 0' })
  seq?: number;

  @ApiPropertyOptional({ description: 'Echoed in the pong (ping)' })
  nonce?: unknown;
}

export class RoomReplyDto {
  @ApiProperty({ enum: ['init', 'stream_size', 'pong', 'error'] })
  type: string;
}
