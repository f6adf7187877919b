/**
 * Sign-in, sign-out and "who am I". Unknown user and wrong password get the same answer, after
 * the same work (a decoy verifier is checked for unknown names). Throttled per user name and
 * address together, per address and per user name (rate-limit.ts; an IPv6 address counts by its
 * /64); one check per user name is in flight at a time, so parallel guesses cannot outrun the
 * throttle.
 */

import type { Hono, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { User } from '../../model/identity.js';
import type { Logger } from '../../model/logger.js';
import type { AuthDeps } from '../auth/authenticate.js';
import { originAccepted } from '../auth/origin.js';
import { decoyIterations, decoyVerifier, passwordMatches } from '../auth/password.js';
import type { LoginLimiter } from '../auth/rate-limit.js';
import { clientIp, type WebContext, type WebEnv } from '../env.js';
import { ApiError } from '../http-errors.js';
import { clientBlock } from '../ip-address.js';
import { isAdmin, type Principal, seesAll } from '../types.js';

export interface AuthRouteDeps extends AuthDeps {
  readonly limiter: LoginLimiter;
  readonly secureCookies: boolean;
  /** Cookie lifetime: the sign-in's absolute lifetime. */
  readonly maxAgeS: number;
  readonly log: Logger;
}

const MAX_NAME = 256;
const MAX_PASSWORD = 4096;
const MAX_IN_FLIGHT_PER_IP = 4;

export function authRoutes(app: Hono<WebEnv>, d: AuthRouteDeps, authed: MiddlewareHandler<WebEnv>): void {
  const inFlightUsers = new Set<string>();
  const inFlightIps = new Map<string, number>();
  const decoy = decoyVerifier(
    decoyIterations([...d.users.values()].map((u) => u.verifiers.scramSha256.iterations)),
  );

  app.post('/api/login', async (c) => {
    const { user, password } = await loginBody(c, d.publicOrigin);
    const ip = clientIp(c);
    // Counted by the block the limiter counts by (an IPv6 /64), logged by the full address.
    const block = clientBlock(ip);
    const waitMs = d.limiter.waitMs(user, ip);
    const key = user.toLowerCase();
    if (waitMs > 0 || inFlightUsers.has(key) || (inFlightIps.get(block) ?? 0) >= MAX_IN_FLIGHT_PER_IP) {
      const retry = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ApiError(429, 'DBTAPE_LOGIN_THROTTLED', `too many failed sign-ins; try again in ${retry} s`, {
        'Retry-After': String(retry),
      });
    }
    inFlightUsers.add(key);
    inFlightIps.set(block, (inFlightIps.get(block) ?? 0) + 1);
    let u: User | undefined;
    try {
      u = d.users.get(user);
      const ok = await passwordMatches(u?.verifiers.scramSha256 ?? decoy, password);
      if (!ok) u = undefined;
    } finally {
      inFlightUsers.delete(key);
      const n = (inFlightIps.get(block) ?? 1) - 1;
      if (n > 0) inFlightIps.set(block, n);
      else inFlightIps.delete(block);
    }
    if (!u) {
      d.limiter.failed(user, ip);
      // People type passwords into the name field: a name that is no configured user is not logged.
      // One line per failure, unthrottled (unlike refused Hosts): the sign-in throttle already bounds
      // failures per address, and each is an attempt an operator wants to see. Throttled attempts
      // and CSRF refusals are answered without a log line.
      const who = d.users.has(user) ? { user, user_known: true } : { user_known: false };
      d.log.warn({ ...who, ip }, 'dashboard sign-in failed');
      throw new ApiError(401, 'DBTAPE_LOGIN_FAILED', 'wrong user name or password');
    }
    d.limiter.succeeded(user, ip);
    const { token, signIn } = d.signIns.create(u.name);
    setCookie(c, d.cookieName, token, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: d.secureCookies,
      path: '/',
      maxAge: d.maxAgeS,
    });
    d.log.info({ user: u.name, ip }, 'dashboard sign-in');
    return c.json(
      meJson({ user: u.name, roles: u.roles, via: 'session', credentialId: signIn.id, csrf: signIn.csrf }),
    );
  });

  app.post('/api/logout', authed, (c) => {
    const cookie = getCookie(c, d.cookieName);
    if (cookie) d.signIns.end(cookie);
    deleteCookie(c, d.cookieName, { path: '/', secure: d.secureCookies });
    return c.json({ ok: true });
  });

  app.get('/api/me', authed, (c) => c.json(meJson(c.get('principal'))));
}

export function meJson(p: Principal) {
  return {
    user: p.user,
    roles: p.roles,
    via: p.via,
    ...(p.csrf ? { csrf: p.csrf } : {}),
    can: { see_all: seesAll(p), kill: isAdmin(p), manage_tokens: isAdmin(p) },
  };
}

async function loginBody(
  c: WebContext,
  publicOrigin: string | null,
): Promise<{ user: string; password: string }> {
  // JSON only: a cross-site form cannot send it without a CORS preflight, which we never grant.
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
    throw new ApiError(
      415,
      'DBTAPE_BAD_REQUEST',
      'send the sign-in as JSON: {"user": "...", "password": "..."}',
    );
  }
  const origin = c.req.header('origin');
  if (origin !== undefined && !originAccepted(origin, c.req.url, publicOrigin)) {
    throw new ApiError(403, 'DBTAPE_CSRF', 'cross-origin sign-in refused');
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ApiError(400, 'DBTAPE_BAD_REQUEST', 'the sign-in body is not valid JSON');
  }
  const { user, password } = (body ?? {}) as Record<string, unknown>;
  if (typeof user !== 'string' || typeof password !== 'string' || user.length === 0) {
    throw new ApiError(400, 'DBTAPE_BAD_REQUEST', 'expected {"user": "...", "password": "..."}');
  }
  if (user.length > MAX_NAME || password.length > MAX_PASSWORD) {
    throw new ApiError(400, 'DBTAPE_BAD_REQUEST', 'user name or password too long');
  }
  return { user, password };
}
