/**
 * Links statements to their outcomes so a store can answer "statements that failed" without
 * scanning events. Outcomes arrive in statement order; PostgreSQL discards the rest of a
 * pipeline after an error (until Sync), so an error clears the pending statements. A result
 * or error with nothing pending belongs to the last statement (several results of one simple
 * query). This is a heuristic over the event stream, kept dialect-free for every store.
 */
import type { SessionEvent, SessionId } from '../model/session.js';

export interface OutcomeMark {
  readonly sessionId: SessionId;
  /** seq of the query event. */
  readonly querySeq: number;
  readonly failed: boolean;
}

interface Pending {
  queue: number[];
  last: number;
}

export class OutcomeTracker {
  private readonly sessions = new Map<SessionId, Pending>();

  /** Feeds one event; returns the mark it settles, if any. */
  observe(sessionId: SessionId, event: SessionEvent): OutcomeMark | null {
    let p = this.sessions.get(sessionId);
    switch (event.kind) {
      case 'query':
        if (!p) {
          p = { queue: [], last: 0 };
          this.sessions.set(sessionId, p);
        }
        p.queue.push(event.seq);
        p.last = event.seq;
        return null;
      case 'result': {
        if (!p) return null;
        const seq = p.queue.shift();
        return seq === undefined ? null : { sessionId, querySeq: seq, failed: false };
      }
      case 'error': {
        if (!p) return null;
        const seq = p.queue.length > 0 ? p.queue[0]! : p.last;
        p.queue.length = 0;
        return seq > 0 ? { sessionId, querySeq: seq, failed: true } : null;
      }
      case 'end':
        this.sessions.delete(sessionId);
        return null;
      default:
        return null;
    }
  }

  /** After a failed write: what was pending for the session may never have been stored. */
  forget(sessionId: SessionId): void {
    this.sessions.delete(sessionId);
  }
}
