import type { SessionEventBody } from '../../model/session.js';

export type TxState = Extract<SessionEventBody, { kind: 'tx' }>['state'];

const I = 0x49;
const T = 0x54;
const E = 0x45;
/** COMMIT/ROLLBACK AND CHAIN (not AND NO CHAIN): the next transaction begins as this one ends. */
const AND_CHAIN = /\bAND\s+CHAIN\b/i;
/** ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name, which answers the same tag as ROLLBACK. */
const ROLLBACK_TO = /\bROLLBACK\s+(?:(?:WORK|TRANSACTION)\s+)?TO\b/i;

/**
 * Transaction boundaries of a PostgreSQL session, from the statements that completed and the
 * status each ReadyForQuery reports (protocol-flow.html, "Simple Query": one ReadyForQuery ends a
 * whole multi-statement query string, so `BEGIN; …; COMMIT` sent at once is idle before and after).
 *
 * The state it follows moves with each completed statement's tag, in the order the server ran them,
 * and ReadyForQuery settles whatever the tags could not tell (an error, a ROLLBACK that may have been
 * ROLLBACK TO SAVEPOINT). A transaction that ends without a COMMIT tag rolled back: a COMMIT that
 * fails (a deferred constraint, a serialization failure) or a failed PREPARE TRANSACTION aborts it.
 */
export class TxBoundaries {
  /** I, T or E as the statements completed so far left the session. */
  private state = I;
  /** A SAVEPOINT completed in the current transaction: a ROLLBACK tag may then be ROLLBACK TO. */
  private savepoint = false;

  constructor(private readonly emit: (state: TxState) => void) {}

  /** A statement completed with `tag`; `sql` is its text (a simple query's whole string). */
  completed(tag: string, sql: string): void {
    if (tag === 'BEGIN' || tag === 'START TRANSACTION') {
      if (this.state === I) this.enter('begin', T);
    } else if (tag === 'SAVEPOINT') {
      this.savepoint = true;
    } else if (tag === 'PREPARE TRANSACTION') {
      if (this.state === T) this.enter('prepared', I);
    } else if (tag === 'COMMIT' || tag === 'ROLLBACK') {
      this.ended(tag, sql);
    }
  }

  /** ReadyForQuery: the server's word on where the session stands. */
  ready(status: number): void {
    const prev = this.state;
    if (prev === status) return;
    if (prev === I) this.enter('begin', T);
    if (status === E) this.enter('failed', E);
    // Ended without a COMMIT tag (that would have moved the state to I already): rolled back.
    else if (status === I) this.enter('rollback', I);
    // E to T: rolled back to a savepoint (by hand, psql's ON_ERROR_ROLLBACK, pgjdbc's autosave).
    else if (prev === E) this.enter('recovered', T);
  }

  /**
   * The session ended with nothing in flight: a transaction still open is rolled back by the
   * server when the connection closes. (With a statement in flight, a COMMIT may have been it, and
   * the recording does not say what it does not know.)
   */
  sessionEnded(): void {
    if (this.state !== I) this.enter('rollback', I);
  }

  private ended(tag: 'COMMIT' | 'ROLLBACK', sql: string): void {
    // Outside a transaction block COMMIT and ROLLBACK only warn; inside a multi-statement query
    // they end its implicit transaction, which no `begin` announced.
    if (this.state === I) return;
    // Without a savepoint in this transaction, ROLLBACK TO would have failed rather than answer.
    if (tag === 'ROLLBACK' && this.savepoint && ROLLBACK_TO.test(sql)) {
      if (this.state === E) this.enter('recovered', T);
      return;
    }
    // In a failed transaction COMMIT answers ROLLBACK: the tag says what happened.
    this.enter(tag === 'COMMIT' ? 'commit' : 'rollback', I);
    if (AND_CHAIN.test(sql)) this.enter('begin', T);
  }

  private enter(event: TxState, state: number): void {
    if (event === 'begin' || state === I) this.savepoint = false;
    this.state = state;
    this.emit(event);
  }
}
