/**
 * Links statements to their outcomes so a store can answer "statements that failed" without
 * scanning events. Outcomes arrive in statement order; PostgreSQL discards the rest of a
 * pipeline after an error (until Sync), so an error clears the pending statements. A result
 * or error with nothing pending belongs to the last statement (several results of one simple
 * query). This is a heuristic over the event stream, kept dialect-free for every store.
 *
 * The links are a function of a session's stored events alone: a store that does not know a
 * session's state (a new process, a replaced store thread, after a failed write) resumes it from
 * the events it holds rather than starting empty. So `dbtape verify` runs this same tracker over
 * the stored events and expects exactly the stored links (integrity/verify-outcomes.ts).
 */
import type { SessionId } from '../model/session.js';

export interface OutcomeMark {
  readonly sessionId: SessionId;
  /** seq of the query event. */
  readonly querySeq: number;
  readonly failed: boolean;
}

/** The kinds of event whose order decides the links: what resume() needs of a stored session. */
export const LINKED_KINDS: readonly string[] = ['query', 'result', 'error'];

/** What the links are made of: a SessionEvent, an EncodedEvent or a stored row has it. */
export interface LinkedEvent {
  readonly seq: number;
  readonly kind: string;
}

/** The statements of a session whose outcome a later event may still set or change. */
export interface OpenStatements {
  /** Awaiting an outcome, oldest first. */
  readonly queue: readonly number[];
  /** The newest statement (0: none yet): an error with nothing pending is its. */
  readonly last: number;
}

interface Pending {
  queue: number[];
  last: number;
}

export class OutcomeTracker {
  private readonly sessions = new Map<SessionId, Pending>();

  /** Feeds one event (only its kind and seq count); returns the mark it settles, if any. */
  observe(sessionId: SessionId, event: LinkedEvent): OutcomeMark | null {
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

  /**
   * After a failed write: what was pending for the session may never have been stored, so the
   * store resumes it from what it holds before linking its next outcome.
   */
  forget(sessionId: SessionId): void {
    this.sessions.delete(sessionId);
  }

  /** A session the store has just created: nothing of it is stored, so nothing is pending. */
  started(sessionId: SessionId): void {
    this.sessions.set(sessionId, { queue: [], last: 0 });
  }

  /** Whether the session's state is here (started, resumed or observed since), or must be resumed. */
  knows(sessionId: SessionId): boolean {
    return this.sessions.has(sessionId);
  }

  /**
   * Takes up a session from its stored events (those of LINKED_KINDS suffice), in seq order: the
   * state the store's links were left in. Their marks are stored already.
   */
  resume(sessionId: SessionId, stored: Iterable<LinkedEvent>): void {
    this.started(sessionId);
    for (const e of stored) this.observe(sessionId, e);
  }

  /** undefined: nothing is open (the session ended, or is not known here). */
  open(sessionId: SessionId): OpenStatements | undefined {
    return this.sessions.get(sessionId);
  }
}

/**
 * The sessions of a batch whose state the tracker must resume before linking it: those it does not
 * know that have a statement or outcome in the batch (a batch that only ends a session needs none).
 */
export function sessionsToResume(tracker: OutcomeTracker, events: readonly OutcomeEvent[]): SessionId[] {
  const ids = new Set<SessionId>();
  for (const e of events) {
    if (LINKED_KINDS.includes(e.kind) && !tracker.knows(e.sessionId)) ids.add(e.sessionId);
  }
  return [...ids];
}

/** The fields of an event the linking reads (an EncodedEvent has them). */
export interface OutcomeEvent extends LinkedEvent {
  readonly sessionId: SessionId;
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
    const mark = tracker.observe(e.sessionId, e);
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
