import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class ExecuteRequestDto {
  @ApiProperty({ example: 'create stream sensor_data', description: 'One or more JET statements separated by `;`' })
  query!: string;
}

export class InsertRequestDto {
  @ApiProperty({ example: 'sensor_data' })
  target!: string;

  @ApiProperty({ example: [{ sensor_id: 's1', temperature: 31 }], description: 'A record, or an array of records (inserted atomically)' })
  data!: unknown;
}

export class JetErrorDto {
  @ApiProperty({ example: 'STREAM_NOT_FOUND' })
  code!: string;

  @ApiProperty({ example: "Stream 'x' does not exist" })
  message!: string;

  @ApiPropertyOptional({ description: 'For PARSE_ERROR: where, counted from 1' })
  line?: number;

  @ApiPropertyOptional()
  column?: number;
}

export class JetFailureDto {
  @ApiProperty({ example: false })
  success!: boolean;

  @ApiProperty({ type: JetErrorDto })
  error!: JetErrorDto;
}

export class ExecuteResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ description: "The statement's result; its fields are also repeated beside `success`, as JSONJet answers", example: { success: true, type: 'stream', message: "Stream 'x' created successfully", streamName: 'x' } })
  result!: Record<string, unknown>;
}

export class InsertResponseDto {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ example: 2 })
  count!: number;

  @ApiProperty({ example: 'sensor_data' })
  target!: string;

  @ApiProperty({ example: "2 record(s) inserted successfully into 'sensor_data'" })
  message!: string;

  @ApiProperty({ description: 'Offset of the first record inserted', example: 1 })
  firstOffset!: number;

  @ApiProperty({ description: 'Offset of the last record inserted', example: 2 })
  lastOffset!: number;
}

export class StreamsResponseDto {
  @ApiProperty({ example: ['sensor_data', '_log'] })
  streams!: string[];
}

export class StatusResponseDto {
  @ApiProperty({ example: 'running' }) status!: string;
  @ApiProperty({ example: '0.1.0' }) version!: string;
  @ApiProperty({ example: 2 }) streams!: number;
  @ApiProperty({ example: 0, description: 'Running flows, and live queries of this server' }) activeQueries!: number;
  @ApiProperty({ example: 3 }) wsConnections!: number;
  @ApiProperty({ example: 12.5, description: 'seconds' }) uptime!: number;
}
