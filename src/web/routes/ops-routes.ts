/**
 * GET /metrics (Prometheus text) and GET /healthz (JSON). Neither needs a sign-in, so neither
 * carries statement text, user names or session ids: only counts.
 */
import type { Hono } from 'hono';
import type { WebEnv } from '../env.js';
import type { StatementMetrics } from '../metrics.js';
import type { SseChannels } from '../sse.js';
import type { MetricsSnapshot } from '../types.js';

export interface OpsRouteDeps {
  readonly metrics: () => MetricsSnapshot;
  readonly statementMetrics: StatementMetrics;
  readonly channels: SseChannels;
}

const STARTED_MS = Date.now();

export function opsRoutes(app: Hono<WebEnv>, d: OpsRouteDeps): void {
  app.get('/metrics', (c) => {
    c.header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    c.header('Cache-Control', 'no-store');
    return c.body(d.statementMetrics.render(d.metrics(), d.channels.size));
  });

  app.get('/healthz', (c) => {
    const snap = d.metrics();
    const r = snap.recording;
    // Nearly full queue: statements are about to be dropped from recordings (gaps).
    const degraded = r !== null && r.queueLimit > 0 && r.queueDepth >= 0.9 * r.queueLimit;
    c.header('Cache-Control', 'no-store');
    return c.json({
      status: degraded ? 'degraded' : 'ok',
      uptime_s: Math.round((Date.now() - STARTED_MS) / 1000),
      sessions_active: snap.sessionsActive,
      recording:
        r === null
          ? null
          : {
              queue_depth: r.queueDepth,
              queue_limit: r.queueLimit,
              errors: r.errors,
              gaps: r.gaps,
              lost: r.lost,
            },
    });
  });
}
