/**
 * GET /api/search?q=… (full-text search of statements and parameters, best match first) and
 * GET /api/stats/statements-per-minute (the list page's chart). Both are limited to the caller's
 * own sessions unless the caller is an auditor or admin.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import type { SessionStore } from '../../store/session-store.js';
import { apiSearchHitJson } from '../api-json.js';
import type { WebEnv } from '../env.js';
import { ApiError } from '../http-errors.js';
import type { MinuteStats } from '../minute-stats.js';
import { intParam, searchFilter } from '../query-params.js';
import { canSee, seesAll } from '../types.js';

export interface SearchRouteDeps {
  readonly store: SessionStore;
  readonly stats: MinuteStats;
  readonly nowUs: () => number;
}

const MAX_QUERY = 1000;

export function searchRoutes(app: Hono<WebEnv>, d: SearchRouteDeps, authed: MiddlewareHandler<WebEnv>): void {
  app.get('/api/search', authed, async (c) => {
    const p = c.get('principal');
    const q = c.req.query('q') ?? '';
    if (q.trim() === '')
      throw new ApiError(400, 'DBTAPE_BAD_PARAMETER', 'give the text to search for as ?q=');
    if (q.length > MAX_QUERY) {
      throw new ApiError(
        400,
        'DBTAPE_BAD_PARAMETER',
        `the search text is longer than ${MAX_QUERY} characters`,
      );
    }
    const filter = searchFilter(c.req.query(), d.nowUs());
    if (!seesAll(p) && filter.user !== undefined && filter.user !== p.user) return c.json([]);
    const hits = await d.store.search(q, seesAll(p) ? filter : { ...filter, user: p.user });
    return c.json(hits.map(apiSearchHitJson));
  });

  app.get('/api/stats/statements-per-minute', authed, (c) => {
    const p = c.get('principal');
    const minutes = intParam(c.req.query(), 'minutes', 1, 24 * 60) ?? 60;
    const series = d.stats.series(minutes, (user) => canSee(p, user));
    return c.json({
      minutes: series.map((b) => ({
        at: new Date(b.atMs).toISOString(),
        statements: b.statements,
        errors: b.errors,
      })),
    });
  });
}
