export * from './ast.js';
export { NsdbParseError, NSDB_RULES } from './errors.js';
export { parseNsdb, parseNsdbSelect, validateSelect } from './parser.js';
export { formatNsdb, normalizeSelect, canonicalKey } from './format.js';
export { toMetricSelection, toMetricCondition, boundedCondition, filterCondition, checkQueryBounds, type NsdbFilter, type NsdbQueryBounds } from './to-metric-query.js';
