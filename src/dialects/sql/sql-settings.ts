import type { ConfigService } from '@nestjs/config';

/** The SQL dialect's bounds and credentials (environment variables, each with its default). */
export type SqlDialectSettings = Readonly<{
  /** Largest statement text (`q`), in bytes. */
  maxStatementBytes: number;
  /** Most parameters in one request (values of `p`, or sets of a bulk `p`). */
  maxParameters: number;
  /** Largest HTTP body on /sql. */
  maxBodyBytes: number;
  /** Frames one socket may have read and not yet answered. */
  maxPendingFrames: number;
  /** Basic auth, when both are set. */
  username?: string;
  password?: string;
}>;

const positive = (config: ConfigService, name: string, fallback: number): number => {
  const raw = config.get<unknown>(name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got ${String(raw)})`);
  return n;
};

export function sqlDialectSettings(config: ConfigService): SqlDialectSettings {
  const username = config.get<string>('SQL_USERNAME') || undefined;
  const password = config.get<string>('SQL_PASSWORD') || undefined;
  return {
    maxStatementBytes: positive(config, 'SQL_MAX_STATEMENT_BYTES', 256 * 1024),
    maxParameters: positive(config, 'SQL_MAX_PARAMETERS', 10_000),
    maxBodyBytes: positive(config, 'SQL_MAX_BODY_BYTES', config.get<number>('MAX_MESSAGE_BYTES') ?? 1024 * 1024),
    maxPendingFrames: positive(config, 'SQL_MAX_PENDING_FRAMES', 100),
    ...(username !== undefined && password !== undefined ? { username, password } : {}),
  };
}

export const SQL_DIALECT_SETTINGS = Symbol('SQL_DIALECT_SETTINGS');
