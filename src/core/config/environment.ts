import { plainToInstance, Transform } from 'class-transformer';
import { IsEmail, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength, validateSync } from 'class-validator';

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));

/** Every setting Tideline reads, with its default. README's configuration table mirrors this class. */
export class Environment {
  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 3333;

  @IsString()
  HOST = '0.0.0.0';

  @IsOptional() @IsString()
  DATABASE_URL?: string;

  @IsString()
  DATA_DIR = './data';

  @Transform(toInt) @IsInt() @Min(100)
  DATABASE_QUERY_TIMEOUT_MS = 5000;

  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  PUBLIC_URL?: string;

  @Transform(toInt) @IsInt() @Min(1024)
  MAX_MESSAGE_BYTES = 1024 * 1024;

  /** Most bytes of frames one connection may have read and not yet answered (at least one frame of MAX_MESSAGE_BYTES). */
  @Transform(toInt) @IsInt() @Min(1024)
  MAX_PENDING_BYTES = 16 * 1024 * 1024;

  @Transform(toInt) @IsInt() @Min(1024)
  SEND_BUFFER_LIMIT_BYTES = 8 * 1024 * 1024;

  @Transform(toInt) @IsInt() @Min(100)
  HEARTBEAT_MS = 30_000;

  /** An aggregate's actor with nothing to do is dropped from memory after this; it reloads from the log. */
  @Transform(toInt) @IsInt() @Min(50)
  ACTOR_IDLE_MS = 60_000;

  /** Most actors kept in memory (least recently used idle ones go first). */
  @Transform(toInt) @IsInt() @Min(100)
  MAX_ACTORS = 50_000;

  /** A read-model view nobody listens to is dropped after this idle time (unset: ACTOR_IDLE_MS). */
  @IsOptional() @Transform(toInt) @IsInt() @Min(50)
  VIEW_IDLE_MS?: number;

  /** Most read-model views kept in memory (unset: MAX_ACTORS). */
  @IsOptional() @Transform(toInt) @IsInt() @Min(100)
  MAX_VIEWS?: number;

  @Transform(toInt) @IsInt() @Min(1)
  MAX_BATCH_EVENTS = 2000;

  /** Most bytes (estimated from the events' JSON) one group-commit transaction writes; a larger append goes alone. */
  @Transform(toInt) @IsInt() @Min(1024)
  MAX_BATCH_BYTES = 4 * 1024 * 1024;

  /** Most bytes of appends waiting for a transaction; past it, appends are refused as overloaded. */
  @Transform(toInt) @IsInt() @Min(1024)
  MAX_QUEUED_BYTES = 64 * 1024 * 1024;

  /** An aggregate's state and its read-model views are snapshotted every this many stored events (0: never). */
  @Transform(toInt) @IsInt() @Min(0)
  SNAPSHOT_EVERY = 1000;

  /** Most records one insert (a socket or HTTP insert, or `insert into`) may carry. */
  @Transform(toInt) @IsInt() @Min(1)
  MAX_INSERT_RECORDS = 10_000;

  /** Most characters of one statement of a query language (JET, SQL). */
  @Transform(toInt) @IsInt() @Min(64)
  MAX_STATEMENT_CHARS = 64 * 1024;

  /** Most live queries and subscriptions one connection may hold. */
  @Transform(toInt) @IsInt() @Min(1)
  MAX_SUBSCRIPTIONS_PER_CONNECTION = 256;

  /** Most flows (durable pipelines) the streams catalog holds at once. */
  @Transform(toInt) @IsInt() @Min(0)
  MAX_FLOWS = 100;

  /** Groups one flow's summarize may hold (per open window); past it the flow is paused with an error in `_log`. */
  @Transform(toInt) @IsInt() @Min(1)
  FLOW_MAX_GROUPS = 10_000;

  /** Records one flow's sliding window may hold. */
  @Transform(toInt) @IsInt() @Min(1)
  FLOW_MAX_WINDOW_ITEMS = 100_000;

  /** Windows one flow may have open at once. */
  @Transform(toInt) @IsInt() @Min(1)
  FLOW_MAX_OPEN_WINDOWS = 1000;

  /** Values one count_distinct of a flow may keep. */
  @Transform(toInt) @IsInt() @Min(1)
  FLOW_MAX_DISTINCT = 100_000;

  /** SQL dialect: most rows one answer may hold (past it, a clear error). */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_RESULT_ROWS = 10_000;

  /** SQL dialect: PostgreSQL statement_timeout of each compiled statement. */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_STATEMENT_TIMEOUT_MS = 10_000;

  /** SQL dialect: most rows one statement (a bulk insert, an UPDATE) may write. */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_WRITE_ROWS = 100_000;

  /** SQL dialect: a transaction open longer than this is rolled back. */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_TRANSACTION_TIMEOUT_MS = 60_000;

  /** SQL dialect: most transactions open at once on this server (one per socket). */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_TRANSACTIONS = 1000;

  /** SQL dialect: largest statement text, in bytes. */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_STATEMENT_BYTES = 256 * 1024;

  /** SQL dialect: most parameters (or parameter sets) in one request. */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_PARAMETERS = 10_000;

  /** SQL dialect: largest HTTP body on /sql (unset: MAX_MESSAGE_BYTES). */
  @IsOptional() @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_BODY_BYTES?: number;

  /** SQL dialect: frames one socket may have read and not yet answered. */
  @Transform(toInt) @IsInt() @Min(1)
  SQL_MAX_PENDING_FRAMES = 100;

  /** SQL dialect: Basic auth on /sql when both are set. */
  @IsOptional() @IsString()
  SQL_USERNAME?: string;

  @IsOptional() @IsString()
  SQL_PASSWORD?: string;

  // ── Live queries (NSDb dialect) ──
  /** POST /query (and the stored answer of a live query): most records one answer may hold; a larger one is refused with a clear error. */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_MAX_QUERY_RECORDS = 10_000;

  /** POST /query: most characters of a queryString. */
  @Transform(toInt) @IsInt() @Min(64)
  LIVE_MAX_STATEMENT_CHARS = 16 * 1024;

  /** /ws-stream: push period used when the client gives no refresh_period (NSDb's nsdb.websocket.refresh-period). */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_REFRESH_PERIOD_MS = 100;

  /** /ws-stream: smallest refresh_period a client may ask for; a smaller one refuses the upgrade with 400. */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_MIN_REFRESH_PERIOD_MS = 100;

  /** /ws-stream: records one push holds per query when the client gives no retention_size (NSDb's nsdb.websocket.retention-size). */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_RETENTION_SIZE = 10;

  /** /ws-stream: largest retention_size a client may ask for. */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_MAX_RETENTION_SIZE = 10_000;

  /** /ws-stream: most live queries one socket may subscribe to at once. */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_MAX_SUBSCRIPTIONS = 100;

  /** /ws-stream: most groups (tag values, open interval buckets) one aggregate live query keeps. */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_MAX_GROUPS = 10_000;

  /** /ws-stream: most characters of a subscribed queryString. */
  @Transform(toInt) @IsInt() @Min(64)
  LIVE_WS_MAX_STATEMENT_CHARS = 16 * 1024;

  /** /ws-stream: most records a resume (fromPosition) may answer with; further behind, the client re-reads with /query. */
  @Transform(toInt) @IsInt() @Min(1)
  LIVE_WS_MAX_RESUME_RECORDS = 10_000;

  // ── Documents and identity (JXP dialect) ──

  /** Documents dialect: the path every JXP route sits under (REST, login, the socket). */
  @Matches(/^\/[A-Za-z0-9_\-/]*[A-Za-z0-9_\-]$/)
  DOCUMENTS_PREFIX = '/jxp';

  /** Documents dialect: the models file (JSON; YAML when it ends in .yml/.yaml), validated at boot. Unset: only the built-in user model. */
  @IsOptional() @IsString()
  MODELS_FILE?: string;

  /** Documents dialect: most subscriptions one /jxp/websocket connection may hold. */
  @Transform(toInt) @IsInt() @Min(1)
  DOCUMENTS_MAX_SUBSCRIPTIONS = 64;

  /** Documents dialect: how often each authenticated /jxp/websocket connection's credential is checked again (revoked, expired, user deleted: its authentication and subscriptions end). */
  @Transform(toInt) @IsInt() @Min(50) @Max(3_600_000)
  DOCUMENTS_REAUTH_MS = 10_000;

  /** Identity: the first admin, created at boot when no user exists (both must be set). */
  @IsOptional() @IsEmail({ require_tld: false })
  ADMIN_EMAIL?: string;

  @IsOptional() @IsString() @MinLength(8)
  ADMIN_PASSWORD?: string;

  /** Identity: the HS256 signing secret of tokens; unset, one is generated once and kept in the log (servers on one database share it). */
  @IsOptional() @IsString() @MinLength(32)
  JWT_SECRET?: string;

  /** Identity: lifetime of an access token (`90s`, `15m`, `24h`, `30d`; a bare number is seconds). */
  @Matches(/^\d+(ms|s|m|h|d)?$/)
  JWT_EXPIRES_IN = '24h';

  /** Identity: lifetime of a refresh token. */
  @Matches(/^\d+(ms|s|m|h|d)?$/)
  REFRESH_EXPIRES_IN = '30d';

  /** Identity: how long a verified Basic (email:password) credential is remembered, so each request need not verify the hash again. */
  @Transform(toInt) @IsInt() @Min(0) @Max(600_000)
  AUTH_CACHE_MS = 30_000;

  /** Identity: most verified Basic credentials remembered at once. */
  @Transform(toInt) @IsInt() @Min(1)
  AUTH_CACHE_SIZE = 10_000;

  /** Identity: most API keys one user may hold at once. */
  @Transform(toInt) @IsInt() @Min(1)
  MAX_API_KEYS_PER_USER = 100;

  /** Login attempts (POST /jxp/login, socket password auth) one client address may have in flight, and make per minute. */
  @Transform(toInt) @IsInt() @Min(1)
  LOGIN_MAX_IN_FLIGHT = 8;

  @Transform(toInt) @IsInt() @Min(1)
  LOGIN_MAX_PER_MINUTE = 12;

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: LogLevel = 'log';
}

export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';

export function validateEnvironment(raw: Record<string, unknown>): Environment {
  const defined = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''));
  const env = plainToInstance(Environment, defined, { exposeDefaultValues: true });
  const errors = validateSync(env, { skipMissingProperties: false, whitelist: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => `${e.property}: ${Object.values(e.constraints ?? {}).join(', ')}`);
    throw new Error(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return env;
}

export const LOG_LEVELS: Record<LogLevel, LogLevel[]> = {
  error: ['error'],
  warn: ['error', 'warn'],
  log: ['error', 'warn', 'log'],
  debug: ['error', 'warn', 'log', 'debug'],
  verbose: ['error', 'warn', 'log', 'debug', 'verbose'],
};
