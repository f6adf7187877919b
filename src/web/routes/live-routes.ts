/**
 * Live streams (Server-Sent Events):
 *  - GET /api/sessions/:id/live: the session's events after `afterSeq` (or Last-Event-ID) from the
 *    store, then new ones from the live bus as they commit, without holes or repeats (the bus
 *    listener is attached before the store is read; repeats are dropped by sequence number). Each
 *    message is `event: event`, `id: <seq>`, data the event's JSON; the session's `end` is followed
 *    by `event: end` and the stream closes.
 *  - GET /api/live: session starts, progress and ends for the session list.
 * Both end when the sign-in or API token that opened them stops working (sse.ts).
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { SessionEvent } from '../../model/session.js';
import type { LiveBus } from '../../recording/live-bus.js';
import { eventToJson } from '../../store/json.js';
import type { SessionStore } from '../../store/session-store.js';
import { type AuthDeps, stillValid } from '../auth/authenticate.js';
import type { WebContext, WebEnv } from '../env.js';
import { badParam } from '../http-errors.js';
import type { LiveFeed } from '../live-feed.js';
import type { SseChannel, SseChannels, StreamOwner } from '../sse.js';
import { canSee, credentialKey, type LiveSessionsView } from '../types.js';
import { visibleSession } from './session-routes.js';

export interface LiveRouteDeps extends AuthDeps {
  readonly store: SessionStore;
  readonly bus: LiveBus;
  readonly feed: LiveFeed;
  readonly channels: SseChannels;
  readonly registry: LiveSessionsView;
}

const PAGE = 1000;

export function liveRoutes(app: Hono<WebEnv>, d: LiveRouteDeps, authed: MiddlewareHandler<WebEnv>): void {
  app.get('/api/sessions/:id/live', authed, async (c) => {
    const s = await visibleSession(c, d);
    // A reconnecting EventSource repeats the URL and adds Last-Event-ID: the later of the two wins.
    const fromQuery = seqParam(c.req.query('afterSeq') ?? c.req.query('after_seq'), 'afterSeq');
    const fromHeader = seqParam(c.req.header('last-event-id'), 'Last-Event-ID');
    const from = Math.max(fromQuery, fromHeader);
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const ch = d.channels.open(stream, ownerOf(c, d));
      ch.send('ready', { id: s.id, live: d.registry.activeIds().includes(s.id) });
      await followSession(d, ch, s.id, from);
    });
  });

  app.get('/api/live', authed, (c) => {
    const p = c.get('principal');
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const ch = d.channels.open(stream, ownerOf(c, d));
      const stop = d.feed.listen((msg, owner) => {
        if (canSee(p, owner)) ch.send(msg.type, msg);
      });
      ch.send('ready', {});
      try {
        await ch.done;
      } finally {
        stop();
      }
    });
  });
}

function ownerOf(c: WebContext, d: LiveRouteDeps): StreamOwner {
  const p = c.get('principal');
  return { key: credentialKey(p.via, p.credentialId), stillValid: () => stillValid(p, d) };
}

function seqParam(v: string | undefined, name: string): number {
  if (v === undefined || v === '') return 0;
  if (!/^\d{1,15}$/.test(v)) throw badParam(name, 'a sequence number');
  return Number(v);
}

async function followSession(d: LiveRouteDeps, ch: SseChannel, id: string, afterSeq: number): Promise<void> {
  let last = afterSeq;
  let caughtUp = false;
  const early: SessionEvent[] = [];
  const deliver = (e: SessionEvent) => {
    if (e.seq <= last || ch.closed) return;
    last = e.seq;
    ch.send('event', eventToJson(e), String(e.seq));
    if (e.kind === 'end') {
      ch.send('end', { id, reason: e.reason });
      ch.close();
    }
  };
  const stop = d.bus.subscribe(id, (e) => {
    if (caughtUp) deliver(e);
    else early.push(e);
  });
  try {
    for (;;) {
      const page = await d.store.getEvents(id, { afterSeq: last, limit: PAGE });
      for (const e of page) deliver(e);
      if (page.length < PAGE || ch.closed) break;
    }
    caughtUp = true;
    for (const e of early) deliver(e);
    early.length = 0;
    if (!ch.closed) {
      // Ended without an end event we could see (e.g. closed by another process): say so and stop.
      const now = await d.store.getSession(id);
      if (now && now.status === 'ended' && last >= now.lastSeq) {
        ch.send('end', { id, reason: now.endReason });
        ch.close();
      }
    }
    await ch.done;
  } finally {
    stop();
  }
}
