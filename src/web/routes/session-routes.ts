/**
 * GET /api/sessions, /api/sessions/:id, /api/sessions/:id/events and POST /api/sessions/:id/kill.
 * Users who are neither auditor nor admin see only their own sessions: a filter on the list, and
 * the same 404 as for a missing id everywhere else.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import type { Logger } from '../../model/logger.js';
import { eventToJson, sessionToJson } from '../../store/json.js';
import type { SessionStore, SessionSummary } from '../../store/session-store.js';
import { apiSessionDetailJson } from '../api-json.js';
import type { WebContext, WebEnv } from '../env.js';
import { ApiError, sessionNotFound } from '../http-errors.js';
import { encodeCursor, intParam, sessionFilter } from '../query-params.js';
import { canSee, isAdmin, type LiveSessionsView, seesAll } from '../types.js';

export interface SessionRouteDeps {
  readonly store: SessionStore;
  readonly registry: LiveSessionsView;
  readonly log: Logger;
  readonly nowUs: () => number;
}

const SESSION_ID = /^[\w-]{1,64}$/;

export function sessionRoutes(
  app: Hono<WebEnv>,
  d: SessionRouteDeps,
  authed: MiddlewareHandler<WebEnv>,
): void {
  app.get('/api/sessions', authed, async (c) => {
    const p = c.get('principal');
    const filter = sessionFilter(c.req.query(), d.nowUs());
    // Others' sessions are not merely hidden from the page: they are never read.
    const scoped = seesAll(p) ? filter : { ...filter, user: p.user };
    if (!seesAll(p) && filter.user !== undefined && filter.user !== p.user) return c.json([]);
    const rows = await d.store.listSessions(scoped);
    const last = rows.at(-1);
    if (last && rows.length === scoped.limit) c.header('X-Next-Cursor', encodeCursor(last));
    return c.json(rows.map(sessionToJson));
  });

  app.get('/api/sessions/:id', authed, async (c) => {
    const s = await visibleSession(c, d);
    return c.json(apiSessionDetailJson(s, d.registry.activeIds().includes(s.id)));
  });

  app.get('/api/sessions/:id/events', authed, async (c) => {
    const s = await visibleSession(c, d);
    const q = c.req.query();
    const afterSeq =
      intParam(q, 'afterSeq', 0, Number.MAX_SAFE_INTEGER) ??
      intParam(q, 'after_seq', 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(q, 'limit', 1, 10_000) ?? 1000;
    const events = await d.store.getEvents(s.id, { afterSeq: afterSeq ?? 0, limit });
    const last = events.at(-1);
    if (last && events.length === limit) c.header('X-Next-After-Seq', String(last.seq));
    return c.json(events.map(eventToJson));
  });

  app.post('/api/sessions/:id/kill', authed, async (c) => {
    const p = c.get('principal');
    const s = await visibleSession(c, d);
    if (!isAdmin(p)) throw new ApiError(403, 'DBTAPE_FORBIDDEN', 'only an admin may end a session');
    const reason = `session ended by administrator ${p.user}`;
    if (!d.registry.kill(s.id, reason)) {
      throw new ApiError(404, 'DBTAPE_SESSION_NOT_LIVE', 'the session is not live in this dbtape process');
    }
    d.log.info({ session: s.id, by: p.user, via: p.via }, 'session ended from the dashboard/API');
    return c.json({ id: s.id, killed: true });
  });
}

/** The session named in the path, if the caller may see it; otherwise 404. */
export async function visibleSession(
  c: WebContext,
  d: Pick<SessionRouteDeps, 'store'>,
): Promise<SessionSummary> {
  const id = c.req.param('id') ?? '';
  if (!SESSION_ID.test(id)) throw sessionNotFound();
  const s = await d.store.getSession(id);
  if (!s || !canSee(c.get('principal'), s.user)) throw sessionNotFound();
  return s;
}
