import { Inject, Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { SQL_ADMIN, type SqlWriter } from '../../contexts/collections/documents/table-policies.js';
import { AuthenticateQuery, basicCredentialsOf, InvalidCredentialsError } from '../../contexts/identity/application/authenticate.query.js';
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
function percentDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export function credentialsMatch(expected: string, value: string | undefined): boolean {
  return value !== undefined && percentDecoded(value) === expected;
}

/** email:password of a (percent-decoded) `Basic …` value; undefined when it is not one. */
function basicCredentials(value: string): { email: string; password: string } | undefined {
  const match = /^\s*basic\s+(\S+)\s*$/i.exec(percentDecoded(value) ?? '');
  return match ? basicCredentialsOf(match[1]) : undefined;
}

/**
 * Who a /sql request or socket is. SQL auth off (no SQL_USERNAME/SQL_PASSWORD): the admin `sql`. On: the
 * static pair is an admin named after SQL_USERNAME (owning nothing); any other Basic credentials are an
 * identity user's email:password, verified by the identity context (its cache of verified passwords
 * included), who writes with their own rights. undefined: refused (401).
 */
@Injectable()
export class SqlAuthenticator {
  private readonly expected?: string;
  private readonly staticAdmin?: SqlWriter;

  constructor(
    @Inject(SQL_DIALECT_SETTINGS) settings: SqlDialectSettings,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {
    this.expected = expectedAuthorization(settings);
    if (settings.username !== undefined) this.staticAdmin = { ...SQL_ADMIN, name: settings.username };
  }

  get required(): boolean {
    return this.expected !== undefined;
  }

  async identify(value: string | undefined): Promise<SqlWriter | undefined> {
    if (!this.expected) return SQL_ADMIN;
    if (value === undefined) return undefined;
    if (credentialsMatch(this.expected, value)) return this.staticAdmin;
    const basic = basicCredentials(value);
    if (!basic) return undefined;
    try {
      const identity = await this.queries.execute(new AuthenticateQuery({ basic }));
      return identity ? { userId: identity.userId, name: identity.name, email: identity.email, admin: identity.admin, groups: identity.groups } : undefined;
    } catch (error) {
      if (error instanceof InvalidCredentialsError) return undefined;
      throw error;
    }
  }
}

/**
 * The /sql socket's door: with SQL auth on, the upgrade must carry credentials (the static pair or an
 * identity user's) in `Authorization` or as a subprotocol (encodeURIComponent('Basic ' + base64(user:pass))),
 * which the 101 then echoes; otherwise 401 with a Basic challenge, before any socket exists. The writer
 * they prove goes with the connection.
 */
@Injectable()
export class SqlUpgradeGuard implements UpgradeGuard {
  constructor(@Inject(SqlAuthenticator) private readonly auth: SqlAuthenticator) {}

  async decide({ headers, protocols }: UpgradeRequest): Promise<UpgradeDecision> {
    const unauthorized = refuse(401, '', { 'WWW-Authenticate': WWW_AUTHENTICATE });
    if (!this.auth.required) return accept({ identity: SQL_ADMIN });
    if (headers.authorization !== undefined) {
      const writer = await this.auth.identify(headers.authorization);
      return writer ? accept({ identity: writer }) : unauthorized;
    }
    for (const protocol of protocols) {
      if (!basicCredentials(protocol)) continue;
      const writer = await this.auth.identify(protocol);
      if (writer) return accept({ protocol, identity: writer });
    }
    return unauthorized;
  }
}
