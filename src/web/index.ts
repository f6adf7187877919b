/**
 * The dashboard and HTTP API, served by the proxy process on `listen.http`: see shared/SPEC.md
 * ("HTTP API") and docs in README. `startWeb` is the only entry point; the CLI wires it.
 */
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from './app.js';
import { ApiTokens } from './auth/api-tokens.js';
import { LoginLimiter, PER_USER_ALL_IPS } from './auth/rate-limit.js';
import { SignInTable } from './auth/sign-ins.js';
import { tokenKeeper, tokenPlace } from './auth/token-keepers.js';
import { backfillMinuteStats } from './backfill.js';
import { TrustedProxies } from './client-address.js';
import { HostRule, refusedHostLog } from './host-check.js';
import { LiveFeed } from './live-feed.js';
import { StatementMetrics } from './metrics.js';
import { MinuteStats } from './minute-stats.js';
import { SseChannels } from './sse.js';
import { defaultAssetsDir } from './static-assets.js';
import { credentialKey, type RunningWeb, type WebOptions } from './types.js';

export { recordingSnapshot } from './metrics.js';
export type { LiveSessionsView, MetricsSnapshot, RunningWeb, WebOptions } from './types.js';

const HOUR_MS = 3_600_000;

export class WebError extends Error {
  override name = 'WebError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startWeb(opts: WebOptions): Promise<RunningWeb> {
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'web' });
  const users = new Map(opts.config.users.map((u) => [u.name, u]));
  const channels = new SseChannels(opts.heartbeatMs ?? 15_000);
  // A credential that ends takes its live streams with it.
  const tokens = await ApiTokens.open(
    tokenKeeper(tokenPlace(opts.config.store.url, opts.tokensFile), opts.store),
    { now, onEnd: (id) => channels.endFor(credentialKey('token', id)) },
  );
  const stats = new MinuteStats(24 * 60, now);
  const feed = new LiveFeed(opts.bus, opts.store, stats, log);
  const statementMetrics = new StatementMetrics(opts.bus);
  const { publicUrl, trustedProxies, forwardedHeader, allowedHosts } = opts.config.http;
  // Behind a TLS-terminating proxy the browser is on https even though dbtape itself is not.
  const secure = opts.tls !== undefined || publicUrl?.startsWith('https:') === true;
  const hostRule = new HostRule({ listenHost: opts.host, publicUrl, allowedHosts });
  const refusedHosts = refusedHostLog(log);
  const limits = opts.loginLimits ?? {};
  const absoluteMs = 24 * HOUR_MS;
  const app = createApp({
    ...opts,
    log,
    users,
    tokens,
    stats,
    feed,
    statementMetrics,
    channels,
    signIns: new SignInTable({
      idleMs: opts.sessionIdleMs ?? 8 * HOUR_MS,
      absoluteMs,
      now,
      onEnd: (id) => channels.endFor(credentialKey('session', id)),
    }),
    limiter: new LoginLimiter({
      perUserFromIp: limits.perUserFromIp ?? 5,
      perIp: limits.perIp ?? 20,
      perUserAllIps: limits.perUserAllIps ?? PER_USER_ALL_IPS,
      baseDelayMs: limits.baseDelayMs ?? 1000,
      maxDelayMs: limits.maxDelayMs ?? 15 * 60_000,
      now,
    }),
    // The __Host- prefix binds the cookie to this origin, but browsers accept it only when Secure.
    cookieName: secure ? '__Host-dbtape_session' : 'dbtape_session',
    secureCookies: secure,
    publicOrigin: publicUrl,
    trustedProxies: new TrustedProxies(trustedProxies),
    forwardedHeader,
    hostRule,
    refusedHosts,
    signInMaxAgeS: absoluteMs / 1000,
    assetsDir: opts.assetsDir ?? defaultAssetsDir(),
    nowUs: () => now() * 1000,
  });

  const server = opts.tls
    ? createAdaptorServer({
        fetch: app.fetch,
        createServer: createHttpsServer,
        serverOptions: { cert: opts.tls.cert, key: opts.tls.key },
      })
    : createAdaptorServer({ fetch: app.fetch });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    feed.close();
    statementMetrics.close();
    throw new WebError(
      'DBTAPE_WEB_LISTEN',
      `dbtape: the dashboard cannot listen on ${opts.host}:${opts.port} (listen.http): ${(err as Error).message}`,
    );
  }
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const address = `${host}:${a.port}`;
  const url = `${opts.tls ? 'https' : 'http'}://${address}`;
  log.info(
    {
      address,
      url: publicUrl ?? url,
      ...(publicUrl !== null ? { direct_url: url } : {}),
      host_check: hostRule.enforced,
      trusted_proxies: trustedProxies.length,
      ...(trustedProxies.length > 0 ? { forwarded_header: forwardedHeader } : {}),
      tokens: tokens.where,
    },
    'dashboard listening',
  );
  backfillMinuteStats(opts.store, stats, feed, now() * 1000, log).catch((err: unknown) =>
    log.warn({ err: String(err) }, 'could not backfill the statements-per-minute chart'),
  );

  let closing: Promise<void> | null = null;
  return {
    address,
    url,
    publicUrl: publicUrl ?? url,
    close() {
      closing ??= (async () => {
        feed.close();
        statementMetrics.close();
        // Streams end cleanly first (clients see the end, not a reset), then the server stops.
        channels.closeAll();
        await channels.settled(1000);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if (!('closeIdleConnections' in server)) return;
          server.closeIdleConnections();
          // A request still running after the grace period is cut off.
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        });
        // Counts of refused requests not yet summed up would otherwise be lost.
        refusedHosts.flush();
      })();
      return closing;
    },
  };
}
