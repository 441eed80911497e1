/** What dialects may use of the metrics (commands, queries, their types and errors): never the read model. */
export * from './application/commands.js';
export * from './domain/metric-query.js';
export {
  MetricNotFoundError,
  MetricQueryError,
  MetricValidationError,
  metricStreamName,
  parseMetricStreamName,
  validateMetricName,
  type FieldError,
  type MetricName,
  type MetricPoint,
  type MetricValue,
} from './domain/metric.js';
