/**
 * In-process fan-out of recorded events, for the dashboard's live view (SSE) and anything else
 * in the proxy process that follows sessions. It publishes each event once the store has
 * COMMITTED it, so a follower can read the store up to seq N and then take live events from
 * N+1 without holes or duplicates (it should drop events with seq <= N it may see in between).
 * Other processes (the CLI's `replay --follow`) poll the store instead.
 */
import type { SessionEvent, SessionId } from '../model/session.js';

export type LiveListener = (event: SessionEvent, sessionId: SessionId) => void;

export class LiveBus {
  private readonly bySession = new Map<SessionId, Set<LiveListener>>();
  private readonly everything = new Set<LiveListener>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** Events of one session; returns the unsubscribe function. */
  subscribe(sessionId: SessionId, listener: LiveListener): () => void {
    let set = this.bySession.get(sessionId);
    if (!set) {
      set = new Set();
      this.bySession.set(sessionId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.bySession.get(sessionId) === set) this.bySession.delete(sessionId);
    };
  }

  /** Events of every session (e.g. the dashboard's session list). */
  subscribeAll(listener: LiveListener): () => void {
    this.everything.add(listener);
    return () => this.everything.delete(listener);
  }

  listenerCount(sessionId?: SessionId): number {
    if (sessionId === undefined) return this.everything.size;
    return this.bySession.get(sessionId)?.size ?? 0;
  }

  /** True when nobody listens: lets the publisher skip work. */
  get idle(): boolean {
    return this.bySession.size === 0 && this.everything.size === 0;
  }

  publish(sessionId: SessionId, event: SessionEvent): void {
    const set = this.bySession.get(sessionId);
    if (set) for (const l of set) this.call(l, event, sessionId);
    for (const l of this.everything) this.call(l, event, sessionId);
  }

  private call(listener: LiveListener, event: SessionEvent, sessionId: SessionId): void {
    try {
      listener(event, sessionId);
    } catch (err) {
      this.onListenerError(err);
    }
  }
}
