/**
 * The HTTP application: security headers, the client's address, the Host check, the API (auth,
 * sessions, live, search, tokens), /metrics and /healthz, and the dashboard's static files.
 * Routing only; each concern lives in its own file under routes/ and auth/.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ForwardedHeader } from '../config/types.js';
import type { User } from '../model/identity.js';
import type { Logger } from '../model/logger.js';
import type { LiveBus } from '../recording/live-bus.js';
import type { SessionStore } from '../store/session-store.js';
import type { ApiTokens } from './auth/api-tokens.js';
import { authenticate } from './auth/authenticate.js';
import type { LoginLimiter } from './auth/rate-limit.js';
import type { SignInTable } from './auth/sign-ins.js';
import { resolveClientAddress, type TrustedProxies } from './client-address.js';
import type { WebEnv } from './env.js';
import { type HostRule, hostCheck } from './host-check.js';
import { ApiError } from './http-errors.js';
import type { LiveFeed } from './live-feed.js';
import type { LogThrottle } from './log-throttle.js';
import type { StatementMetrics } from './metrics.js';
import type { MinuteStats } from './minute-stats.js';
import { authRoutes } from './routes/auth-routes.js';
import { liveRoutes } from './routes/live-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { searchRoutes } from './routes/search-routes.js';
import { sessionRoutes } from './routes/session-routes.js';
import { tokenRoutes } from './routes/token-routes.js';
import type { SseChannels } from './sse.js';
import { loadAssets, staticRoutes } from './static-assets.js';
import type { LiveSessionsView, MetricsSnapshot } from './types.js';

export interface AppDeps {
  readonly store: SessionStore;
  readonly bus: LiveBus;
  readonly registry: LiveSessionsView;
  readonly metrics: () => MetricsSnapshot;
  readonly log: Logger;
  readonly users: ReadonlyMap<string, User>;
  readonly signIns: SignInTable;
  readonly tokens: ApiTokens;
  readonly limiter: LoginLimiter;
  readonly feed: LiveFeed;
  readonly stats: MinuteStats;
  readonly statementMetrics: StatementMetrics;
  readonly channels: SseChannels;
  readonly cookieName: string;
  readonly secureCookies: boolean;
  /** http.public_url as an origin, or null. */
  readonly publicOrigin: string | null;
  readonly trustedProxies: TrustedProxies;
  /** http.forwarded_header: the one header the trusted proxies name the client in. */
  readonly forwardedHeader: ForwardedHeader;
  readonly hostRule: HostRule;
  /** Where refused Host lines go; index.ts flushes it on close. */
  readonly refusedHosts: LogThrottle;
  readonly signInMaxAgeS: number;
  readonly assetsDir: string;
  readonly nowUs: () => number;
}

/**
 * No inline script or style, nothing from other origins; recorded text is never markup, and this
 * makes sure a mistake there could not run anything either.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function createApp(d: AppDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
    if (c.req.path.startsWith('/api/') && !c.res.headers.has('Cache-Control'))
      c.header('Cache-Control', 'no-store');
  });
  app.use('*', resolveClientAddress(d.trustedProxies, d.forwardedHeader));
  app.use('*', hostCheck(d.hostRule, d.refusedHosts));
  const tooLarge = new ApiError(413, 'DBTAPE_BAD_REQUEST', 'request body too large');
  app.use('/api/*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json(tooLarge.body(), 413) }));

  const authed = authenticate(d);
  authRoutes(app, { ...d, maxAgeS: d.signInMaxAgeS }, authed);
  sessionRoutes(app, d, authed);
  liveRoutes(app, d, authed);
  searchRoutes(app, d, authed);
  tokenRoutes(app, d, authed);
  opsRoutes(app, d);
  staticRoutes(app, loadAssets(d.assetsDir));

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json(err.body(), err.status);
    }
    const code = (err as { code?: unknown }).code;
    if (code === 'DBTAPE_STORE_BAD_QUERY') {
      return c.json({ error: { code: 'DBTAPE_BAD_PARAMETER', message: err.message } }, 400);
    }
    d.log.error({ err: err.message, path: c.req.path, method: c.req.method }, 'dashboard request failed');
    return c.json(
      { error: { code: 'DBTAPE_INTERNAL', message: 'dbtape: internal error (see the server log)' } },
      500,
    );
  });
  return app;
}
