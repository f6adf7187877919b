/**
 * Session starts, progress and ends for the session list (GET /api/live), taken from the live
 * bus. Progress is coalesced: a busy session sends at most one update per `updateEveryMs`.
 * It also knows which user each live session belongs to, which the SSE routes and the
 * per-minute statistics need to decide who may see what.
 */
import type { Logger } from '../model/logger.js';
import type { SessionEvent, SessionId, SessionMeta } from '../model/session.js';
import type { LiveBus } from '../recording/live-bus.js';
import { isoFromUs, type SessionJson, sessionToJson } from '../store/json.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import type { MinuteStats } from './minute-stats.js';

export type LiveMessage =
  | { readonly type: 'start'; readonly session: SessionJson }
  | { readonly type: 'update'; readonly id: SessionId; readonly statements: number; readonly errors: number }
  | {
      readonly type: 'end';
      readonly id: SessionId;
      readonly ended_at: string;
      readonly end_reason: string;
      readonly statements: number;
      readonly errors: number;
    };

export type LiveFeedListener = (msg: LiveMessage, owner: string) => void;

interface Tracked {
  readonly user: string;
  statements: number;
  errors: number;
  dirty: boolean;
  /** The first sequence number seen on the bus: what the store backfill must not count again. */
  readonly firstLiveSeq: number;
}

export class LiveFeed {
  private readonly sessions = new Map<SessionId, Tracked>();
  /** Sessions seen on the bus before their start (begun before we subscribed): events wait for the store. */
  private readonly pending = new Map<SessionId, { event: SessionEvent }[]>();
  private readonly listeners = new Set<LiveFeedListener>();
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    bus: LiveBus,
    private readonly store: SessionStore,
    private readonly stats: MinuteStats,
    private readonly log: Logger,
    private readonly updateEveryMs = 250,
  ) {
    this.unsubscribe = bus.subscribeAll((event, id) => this.onEvent(event, id));
  }

  listen(fn: LiveFeedListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The first seq of `id` seen live (Infinity when never seen): used to backfill without double counts. */
  firstLiveSeq(id: SessionId): number {
    return this.sessions.get(id)?.firstLiveSeq ?? Number.POSITIVE_INFINITY;
  }

  close(): void {
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
  }

  private onEvent(event: SessionEvent, id: SessionId): void {
    const waiting = this.pending.get(id);
    if (waiting) {
      waiting.push({ event });
      return;
    }
    if (event.kind === 'start') {
      this.started(event.meta, event.seq);
      return;
    }
    const t = this.sessions.get(id);
    if (!t) {
      this.adopt(id, event);
      return;
    }
    this.apply(id, t, event);
  }

  private started(meta: SessionMeta, seq: number): void {
    this.sessions.set(meta.id, {
      user: meta.user,
      statements: 0,
      errors: 0,
      dirty: false,
      firstLiveSeq: seq,
    });
    this.emit({ type: 'start', session: sessionToJson(summaryOf(meta)) }, meta.user);
  }

  private apply(id: SessionId, t: Tracked, event: SessionEvent): void {
    if (event.kind === 'query') {
      t.statements++;
      this.stats.record(t.user, event.atUs, 'statement');
      this.markDirty(t);
    } else if (event.kind === 'error') {
      t.errors++;
      this.stats.record(t.user, event.atUs, 'error');
      this.markDirty(t);
    } else if (event.kind === 'end') {
      t.dirty = false;
      this.sessions.delete(id);
      const end: LiveMessage = {
        type: 'end',
        id,
        ended_at: isoFromUs(event.atUs),
        end_reason: event.reason,
        statements: t.statements,
        errors: t.errors,
      };
      this.emit(end, t.user);
    }
  }

  /** A session that began before we listened: learn its owner and counts from the store, then replay. */
  private adopt(id: SessionId, first: SessionEvent): void {
    const queue = [{ event: first }];
    this.pending.set(id, queue);
    this.store.getSession(id).then(
      (s) => {
        this.pending.delete(id);
        if (!s) return;
        // The store already counts what it has committed, including the queued events.
        const t: Tracked = {
          user: s.user,
          statements: s.statements,
          errors: s.errors,
          dirty: false,
          firstLiveSeq: first.seq,
        };
        this.sessions.set(id, t);
        for (const { event } of queue) {
          if (event.kind === 'query') this.stats.record(t.user, event.atUs, 'statement');
          else if (event.kind === 'error') this.stats.record(t.user, event.atUs, 'error');
          else if (event.kind === 'end') this.apply(id, t, event);
        }
        if (this.sessions.has(id)) this.markDirty(t);
      },
      (err: unknown) => {
        this.pending.delete(id);
        this.log.warn({ session: id, err: String(err) }, 'live feed could not read a session');
      },
    );
  }

  private markDirty(t: Tracked): void {
    t.dirty = true;
    this.timer ??= setTimeout(() => this.flush(), this.updateEveryMs);
  }

  private flush(): void {
    this.timer = null;
    for (const [id, t] of this.sessions) {
      if (!t.dirty) continue;
      t.dirty = false;
      this.emit({ type: 'update', id, statements: t.statements, errors: t.errors }, t.user);
    }
  }

  private emit(msg: LiveMessage, owner: string): void {
    for (const fn of this.listeners) {
      try {
        fn(msg, owner);
      } catch (err) {
        this.log.warn({ err: String(err) }, 'live feed listener failed');
      }
    }
  }
}

/** A listing row for a session that has just started. */
function summaryOf(meta: SessionMeta): SessionSummary {
  return {
    ...meta,
    endedAtUs: null,
    endReason: null,
    statements: 0,
    errors: 0,
    events: 1,
    lastSeq: 1,
    status: 'active',
  };
}
