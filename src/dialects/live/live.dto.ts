import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class BitDto {
  @ApiPropertyOptional({ example: 1700000000000, description: 'Epoch milliseconds; now when absent' })
  timestamp?: number;

  @ApiProperty({ example: 1.5, description: 'A number' })
  value!: number;

  @ApiPropertyOptional({ example: { host: 'h1', core: 2 }, description: 'A flat object of strings and numbers' })
  dimensions?: Record<string, string | number>;

  @ApiPropertyOptional({ example: { region: 'eu' }, description: 'A flat object of strings and numbers (group by and index on these)' })
  tags?: Record<string, string | number>;
}

export class InsertBodyDto {
  @ApiProperty({ example: 'db' })
  db!: string;

  @ApiProperty({ example: 'namespace' })
  namespace!: string;

  @ApiProperty({ example: 'cpu', description: 'Created on first write' })
  metric!: string;

  @ApiProperty({ type: BitDto })
  bit!: BitDto;
}

export class FieldErrorDto {
  @ApiProperty({ example: 'metric' })
  field!: string;

  @ApiProperty({ example: 'Field metric must contain only alphanumeric chars' })
  error!: string;
}

export class FilterDto {
  @ApiProperty({ example: 'host' })
  dimension!: string;

  @ApiPropertyOptional({ example: 'h1', description: 'Absent for ISNULL / ISNOTNULL' })
  value?: string | number;

  @ApiProperty({ example: '=', enum: ['=', '>', '>=', '<', '<=', 'LIKE', 'ISNULL', 'ISNOTNULL'] })
  operator!: string;
}

export class QueryBodyDto {
  @ApiProperty({ example: 'db' })
  db!: string;

  @ApiProperty({ example: 'namespace' })
  namespace!: string;

  @ApiProperty({ example: 'cpu' })
  metric!: string;

  @ApiProperty({ example: 'select * from cpu where host = h1 order by timestamp desc limit 10', description: 'An NSDb SELECT (or DELETE FROM … WHERE …)' })
  queryString!: string;

  @ApiPropertyOptional({ example: 0, description: 'Lower bound of the timestamp (included)' })
  from?: number;

  @ApiPropertyOptional({ example: 1900000000000, description: 'Upper bound of the timestamp (included)' })
  to?: number;

  @ApiPropertyOptional({ type: [FilterDto], description: 'ANDed with the statement' })
  filters?: FilterDto[];
}

export class RecordDto {
  @ApiProperty({ example: 1700000000000 })
  timestamp!: number;

  @ApiProperty({ example: 1.5 })
  value!: number;

  @ApiProperty({ example: { host: 'h1' } })
  dimensions!: Record<string, string | number>;

  @ApiProperty({ example: { region: 'eu' }, description: "Aggregates answer here too: {\"count(*)\": 3}, or the group's tag" })
  tags!: Record<string, string | number>;
}

export class QueryResponseDto {
  @ApiProperty({ type: [RecordDto] })
  records!: RecordDto[];
}

export class DbsDto {
  @ApiProperty({ example: ['db'] })
  dbs!: string[];
}

export class NamespacesDto {
  @ApiProperty({ example: ['namespace'] })
  namespaces!: string[];
}

export class MetricsDto {
  @ApiProperty({ example: ['cpu'] })
  metrics!: string[];
}

export class MetricFieldDto {
  @ApiProperty({ example: 'host' })
  name!: string;

  @ApiProperty({ example: 'VARCHAR', enum: ['VARCHAR', 'INT', 'BIGINT', 'DECIMAL'] })
  type!: string;

  @ApiProperty({ example: 'DIMENSION', enum: ['TIMESTAMP', 'VALUE', 'DIMENSION', 'TAG'] })
  fieldClassType!: string;
}

export class DescribeMetricDto {
  @ApiProperty({ type: [MetricFieldDto] })
  fields!: MetricFieldDto[];
}
