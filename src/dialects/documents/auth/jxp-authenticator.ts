import { Inject, Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { Request } from 'express';
import { AuthenticateQuery, basicCredentialsOf, type Credentials, type Identity } from '../../../contexts/identity/application/authenticate.query.js';
import { JxpError } from '../jxp-errors.js';
import { jxp } from './identity-errors.js';
import { LoginLimiter } from './login-limiter.js';

/** The request's client address (the socket's peer: no proxy header is trusted). */
export function clientAddress(request: Pick<Request, 'socket'>): string {
  return request.socket?.remoteAddress ?? 'unknown';
}

type RequestLike = Pick<Request, 'headers'> & { query?: unknown; url?: string; originalUrl?: string };

/**
 * The credentials a request carries, as JXP reads them, first found wins: `Authorization: Basic`
 * (email:password), `Authorization: Bearer <token>`, the `X-API-Key` header, `?apikey=`. null when none;
 * a malformed one is 403 Forbidden.
 */
export function credentialsOf(request: RequestLike): Credentials | null {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string' && authorization.trim() !== '') {
    const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(authorization);
    if (!match) throw new JxpError('Forbidden', 'Malformed Authorization header');
    const [, scheme, value] = match;
    if (/^basic$/i.test(scheme)) {
      const basic = basicCredentialsOf(value);
      if (!basic) throw new JxpError('Forbidden', 'Malformed Basic credentials');
      return { basic };
    }
    if (/^bearer$/i.test(scheme)) return { bearer: value };
    throw new JxpError('Forbidden', `Unsupported authorization scheme ${scheme.slice(0, 20)}`);
  }
  const header = request.headers['x-api-key'];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (typeof fromHeader === 'string' && fromHeader !== '') return { apikey: fromHeader.trim() };
  const fromQuery = queryApiKey(request);
  return fromQuery !== undefined ? { apikey: fromQuery } : null;
}

function queryApiKey(request: RequestLike): string | undefined {
  const url = request.originalUrl ?? request.url ?? '';
  const at = url.indexOf('?');
  if (at < 0) return undefined;
  const value = new URLSearchParams(url.slice(at + 1)).get('apikey');
  return value === null || value === '' ? undefined : value;
}

/**
 * Who a request (or a socket's `auth` message) is. Anonymous (null) only without credentials; a bad,
 * expired or revoked credential is a 403 Forbidden, never anonymous. A request is authenticated once,
 * however many routes or guards ask.
 */
@Injectable()
export class JxpAuthenticator {
  private readonly seen = new WeakMap<object, Promise<Identity | null>>();

  constructor(
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(LoginLimiter) private readonly limiter: LoginLimiter,
  ) {}

  authenticate(request: RequestLike): Promise<Identity | null> {
    let known = this.seen.get(request);
    if (!known) {
      known = (async () => {
        const credentials = credentialsOf(request);
        return credentials ? this.authenticateCredentials(credentials) : null;
      })();
      this.seen.set(request, known);
    }
    return known;
  }

  /** 403 "User not logged in" when anonymous. */
  async require(request: RequestLike): Promise<Identity> {
    const identity = await this.authenticate(request);
    if (!identity) throw new JxpError('Forbidden', 'User not logged in');
    return identity;
  }

  /**
   * For the socket's `auth` action (`{email, password}` | `{apikey}` | `{token}`). With `address`, password
   * attempts count against the login limits of that address (429 past them).
   */
  async authenticateCredentials(credentials: Credentials, address?: string): Promise<Identity> {
    const attempt = async () => {
      const identity = await jxp(this.queries.execute(new AuthenticateQuery(credentials)));
      if (!identity) throw new JxpError('Forbidden', 'Forbidden');
      return identity;
    };
    return credentials.basic && address !== undefined ? this.limiter.run(address, attempt) : attempt();
  }
}
