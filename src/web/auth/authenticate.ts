/**
 * Who is calling: an API token (`Authorization: Bearer ...`) or a dashboard sign-in cookie.
 * State-changing requests made with the cookie must also carry the sign-in's CSRF token in
 * `X-CSRF-Token` and, when the browser sends an Origin, come from the dashboard's own origin
 * (origin.ts): the cookie is SameSite=Strict already, these checks are the second lock.
 */

import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { User } from '../../model/identity.js';
import type { WebContext, WebEnv } from '../env.js';
import { ApiError } from '../http-errors.js';
import type { Principal } from '../types.js';
import type { ApiTokens } from './api-tokens.js';
import { originAccepted } from './origin.js';
import { type SignInTable, sameSecret } from './sign-ins.js';

export interface AuthDeps {
  readonly users: ReadonlyMap<string, User>;
  readonly signIns: SignInTable;
  readonly tokens: ApiTokens;
  readonly cookieName: string;
  /** http.public_url: the origin browsers use behind a reverse proxy, accepted as our own. */
  readonly publicOrigin: string | null;
}

export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function authenticate(d: AuthDeps): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const p = principalOf(c, d);
    if (!p) {
      throw new ApiError(
        401,
        'DBTAPE_AUTH_REQUIRED',
        'sign in to the dashboard first, or send an API token as "Authorization: Bearer <token>"',
      );
    }
    if (!SAFE_METHODS.has(c.req.method) && p.via === 'session') checkCsrf(c, p, d.publicOrigin);
    c.set('principal', p);
    await next();
  };
}

function principalOf(c: WebContext, d: AuthDeps): Principal | null {
  const auth = c.req.header('authorization');
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    const info = m ? d.tokens.lookup(m[1]!) : null;
    const user = info ? d.users.get(info.user) : undefined;
    // A bad token never falls back to the cookie: a script should learn its token is wrong.
    if (info && d.tokens.expired(info)) {
      throw new ApiError(
        401,
        'DBTAPE_TOKEN_INVALID',
        `the API token expired at ${info.expiresAt}; an admin can create a new one`,
      );
    }
    if (!info || !user)
      throw new ApiError(401, 'DBTAPE_TOKEN_INVALID', 'the API token is unknown or revoked');
    return { user: user.name, roles: user.roles, via: 'token', credentialId: info.id };
  }
  const cookie = getCookie(c, d.cookieName);
  if (!cookie) return null;
  const s = d.signIns.lookup(cookie);
  const user = s ? d.users.get(s.user) : undefined;
  if (!s || !user) return null;
  return { user: user.name, roles: user.roles, via: 'session', credentialId: s.id, csrf: s.csrf };
}

/**
 * Whether the credential behind `p` still works: its sign-in has not ended or lapsed, its token
 * is neither revoked nor expired, and its user is still configured. Long requests (live streams)
 * ask this again and again, so it does not count as activity.
 */
export function stillValid(p: Principal, d: Pick<AuthDeps, 'users' | 'signIns' | 'tokens'>): boolean {
  if (!d.users.has(p.user)) return false;
  return p.via === 'token' ? d.tokens.valid(p.credentialId) : d.signIns.peek(p.credentialId) !== null;
}

function checkCsrf(c: WebContext, p: Principal, publicOrigin: string | null): void {
  const origin = c.req.header('origin');
  if (origin !== undefined && !originAccepted(origin, c.req.url, publicOrigin)) {
    throw new ApiError(403, 'DBTAPE_CSRF', 'cross-origin request refused');
  }
  const sent = c.req.header(CSRF_HEADER);
  if (!sent || !p.csrf || !sameSecret(sent, p.csrf)) {
    throw new ApiError(
      403,
      'DBTAPE_CSRF',
      `missing or wrong ${CSRF_HEADER} header (read the token from GET /api/me and send it back)`,
    );
  }
}
