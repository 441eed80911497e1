import { Inject, Injectable } from '@nestjs/common';
import { accept, refuse, type UpgradeDecision, type UpgradeGuard, type UpgradeRequest } from '../../core/realtime/upgrade-guard.js';
import { SQL_DIALECT_SETTINGS, type SqlDialectSettings } from './sql-settings.js';

export const SQL_REALM = 'restricted area';
export const WWW_AUTHENTICATE = `Basic realm="${SQL_REALM}"`;

/** The expected `Authorization` value, or undefined when no credentials are configured. */
export function expectedAuthorization(settings: SqlDialectSettings): string | undefined {
  if (settings.username === undefined || settings.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${settings.username}:${settings.password}`).toString('base64')}`;
}

/** Endb compares the header percent-decoded (a browser can only send the credentials as a subprotocol). */
export function credentialsMatch(expected: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return false;
  }
  return decoded === expected;
}

/**
 * The /sql socket's door: with SQL_USERNAME and SQL_PASSWORD set, the upgrade must carry the credentials in
 * `Authorization` or as a subprotocol (encodeURIComponent('Basic ' + base64(user:pass))), which the 101 then
 * echoes; otherwise 401 with a Basic challenge, before any socket exists.
 */
@Injectable()
export class SqlUpgradeGuard implements UpgradeGuard {
  private readonly expected?: string;

  constructor(@Inject(SQL_DIALECT_SETTINGS) settings: SqlDialectSettings) {
    this.expected = expectedAuthorization(settings);
  }

  decide({ headers, protocols }: UpgradeRequest): UpgradeDecision {
    if (!this.expected) return accept();
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      return credentialsMatch(this.expected, authorization) ? accept() : refuse(401, '', { 'WWW-Authenticate': WWW_AUTHENTICATE });
    }
    const protocol = protocols.find((p) => credentialsMatch(this.expected!, p));
    return protocol ? accept({ protocol }) : refuse(401, '', { 'WWW-Authenticate': WWW_AUTHENTICATE });
  }
}
