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

/** The fields of an event the linking reads (an EncodedEvent has them). */
export interface OutcomeEvent {
  readonly sessionId: SessionId;
  readonly seq: number;
  readonly kind: string;
}

/**
 * Links a batch's outcomes to their statements before anything is inserted: a statement answered
 * within the same batch (nearly all of them under load) is inserted with its outcome, instead of
 * being updated after. `failed[i]` is 1/0 for a query event whose outcome is in the batch, else
 * null; `late` holds the outcomes of statements stored by an earlier batch, one per statement (the
 * last: an error can overturn a result the same batch gave, and PostgreSQL's UPDATE ... FROM
 * applies one of several rows for a target, no saying which).
 */
export function linkOutcomes(
  tracker: OutcomeTracker,
  events: readonly OutcomeEvent[],
): { failed: (number | null)[]; late: OutcomeMark[] } {
  const failed: (number | null)[] = new Array(events.length).fill(null);
  const late = new Map<string, OutcomeMark>();
  const queryAt = new Map<string, Map<number, number>>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind === 'query') {
      let at = queryAt.get(e.sessionId);
      if (!at) {
        at = new Map();
        queryAt.set(e.sessionId, at);
      }
      at.set(e.seq, i);
    }
    // The tracker reads only kind and seq.
    const mark = tracker.observe(e.sessionId, e as unknown as SessionEvent);
    if (!mark) continue;
    const at = queryAt.get(mark.sessionId)?.get(mark.querySeq);
    if (at !== undefined) failed[at] = mark.failed ? 1 : 0;
    else {
      const key = `${mark.sessionId}\n${mark.querySeq}`;
      late.delete(key);
      late.set(key, mark);
    }
  }
  return { failed, late: [...late.values()] };
}
