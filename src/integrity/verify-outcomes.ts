/**
 * The `failed` column of a session's events against the events themselves. It is not hashed (it
 * is set after its statement, once the outcome arrives), yet `search --errors` and the API's
 * errors filter read it, so that editing it would hide a failed statement or invent one. The
 * store links outcomes with store/outcome-tracker.ts from the stored events alone; the same
 * tracker run over the same events here must give the same link for every statement.
 *
 * It reads only each event's kind and seq, which are clear columns for encrypted events too: like
 * the session row's counters, it needs no key.
 *
 * No allowance is made at gaps, crashes or restarts: the store links from what it holds, and
 * reads a session's pending statements back from its stored events whenever it does not know
 * them (a new process, a replaced store thread, after a failed write), so the links are those of
 * the stored events whatever was lost. A statement whose events give no outcome must have none
 * (NULL): one still running in a live session, one cut off by a crash, one skipped after an error
 * until Sync, one whose outcome a gap lost.
 *
 * Not reported: anything after the first event found damaged (deleted, inserted, a broken link,
 * an invalid column). The links from there on are off by that damage, which is reported already.
 */
import type { SessionId } from '../model/session.js';
import { OutcomeTracker } from '../store/outcome-tracker.js';
import type { StoredEvent } from './source.js';

type Outcome = 'failed' | 'succeeded' | 'no outcome' | 'a value dbtape never writes';

interface Statement {
  readonly stored: Outcome;
  linked: Outcome;
}

export class OutcomeCheck {
  private readonly tracker = new OutcomeTracker();
  /** Statements whose link a later event may still change, by seq, oldest first. */
  private readonly open = new Map<number, Statement>();
  private halted = false;

  constructor(
    private readonly id: SessionId,
    private readonly report: (seq: number, detail: string) => void,
  ) {
    this.tracker.started(id);
  }

  feed(e: StoredEvent): void {
    if (this.halted) return;
    if (e.kind === 'query') this.open.set(e.seq, { stored: storedOutcome(e.failed), linked: 'no outcome' });
    else if (e.failed !== null)
      this.report(e.seq, 'an outcome is stored on an event that is not a statement');
    const mark = this.tracker.observe(this.id, e);
    const statement = mark ? this.open.get(mark.querySeq) : undefined;
    if (mark && statement) statement.linked = mark.failed ? 'failed' : 'succeeded';
    this.settle();
  }

  /** The events are damaged from here on: stop comparing. */
  halt(): void {
    this.halted = true;
    this.open.clear();
  }

  /** The statements still open: the session is live (or lost its end), so their links stand as they are. */
  finish(): void {
    this.settle(Number.POSITIVE_INFINITY);
  }

  /** Compares every statement older than the oldest one still open: its link is final. */
  private settle(before = this.oldestOpen()): void {
    for (const [seq, s] of this.open) {
      if (seq >= before) return;
      this.open.delete(seq);
      if (s.stored !== s.linked) {
        this.report(
          seq,
          `the stored outcome of a statement does not match its events: stored ${s.stored}, its events say ${s.linked}`,
        );
      }
    }
  }

  private oldestOpen(): number {
    const o = this.tracker.open(this.id);
    if (!o) return Number.POSITIVE_INFINITY;
    return o.queue[0] ?? o.last;
  }
}

/** SQLite stores 1/0, PostgreSQL true/false; NULL while the outcome is not known. */
function storedOutcome(failed: StoredEvent['failed']): Outcome {
  if (failed === null) return 'no outcome';
  if (failed === true || failed === 1) return 'failed';
  if (failed === false || failed === 0) return 'succeeded';
  return 'a value dbtape never writes';
}
