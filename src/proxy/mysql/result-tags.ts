/**
 * The name each result of one command is recorded under (its statement's first keyword: SELECT,
 * UPDATE, ROLLBACK...). A multi-statement text gives one result per statement; clients such as
 * Connector/J send the next command before the last one's response, so the names belong to the
 * command (its Pending entry), never to "the last statement sent".
 */
export class ResultTags {
  private readonly verbs: readonly string[];
  /** Per statement: it ends a transaction by rolling it back (ROLLBACK, XA ROLLBACK). */
  private readonly rollbacks: readonly boolean[];
  /** Per statement: XA PREPARE, which leaves the transaction to a later XA COMMIT or ROLLBACK. */
  private readonly prepares: readonly boolean[];
  private index = 0;
  private lastRollback = false;
  private lastPrepare = false;

  /** `sql`: the command's text. */
  constructor(sql: string) {
    // Good enough for names: a `;` inside a string literal only shifts the names of later results.
    const statements = sql.includes(';') ? sql.split(';').filter((s) => verbOf(s) !== '') : [sql];
    this.verbs = statements.map(verbOf);
    this.rollbacks = statements.map((s) => ROLLBACK.test(s));
    this.prepares = statements.map((s) => XA_PREPARE.test(s));
  }

  /** The name of the next result ('' when its statement has none). */
  next(): string {
    // More results than statements: a CALL's (each named CALL), or a shifted name.
    const i = this.index < this.verbs.length ? this.index : this.verbs.length - 1;
    this.index++;
    this.lastRollback = this.rollbacks[i] ?? false;
    this.lastPrepare = this.prepares[i] ?? false;
    return this.verbs[i] ?? '';
  }

  /** The statement `next` last named rolls back (a transaction it ends is recorded as `rollback`). */
  get rolledBack(): boolean {
    return this.lastRollback;
  }

  /** The statement `next` last named is XA PREPARE. */
  get xaPrepared(): boolean {
    return this.lastPrepare;
  }
}

/** ROLLBACK [WORK] and XA ROLLBACK (`ROLLBACK TO SAVEPOINT` leaves the transaction open). */
const ROLLBACK = /^(?:\s+|\/\*(?:[^*]|\*(?!\/))*\*\/|(?:--\s|#)[^\n]*(?:\n|$))*(?:XA\s+)?ROLLBACK\b/i;

const XA_PREPARE = /^(?:\s+|\/\*(?:[^*]|\*(?!\/))*\*\/|(?:--\s|#)[^\n]*(?:\n|$))*XA\s+PREPARE\b/i;

/** The statement's first keyword, upper-cased ('' when there is none), for the result tag. */
export function verbOf(sql: string): string {
  const m = /^(?:\s+|\/\*(?:[^*]|\*(?!\/))*\*\/|(?:--\s|#)[^\n]*(?:\n|$)|\()*([A-Za-z]+)/.exec(sql);
  return m ? m[1].toUpperCase() : '';
}
