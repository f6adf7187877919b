/**
 * Inserts rows into one table several at a time (`INSERT ... VALUES (...), (...), ...`). The store
 * writes two rows per recorded statement (its event and its search-index entry) and each
 * `Statement.run` has a fixed cost in better-sqlite3 (the call, a result object) that measured
 * larger than binding a row's values; grouping rows pays it once per group.
 */
import type Database from 'better-sqlite3';

/** Rows per statement: 32 × 9 columns stays far below SQLite's bound-parameter limit. */
const ROWS_PER_STATEMENT = 32;

export class RowInserter {
  private readonly values: unknown[] = [];
  private rows = 0;
  /** Prepared statements by row count; full groups use ROWS_PER_STATEMENT, the last one its own. */
  private readonly statements = new Map<number, Database.Statement>();

  /** `head` is everything before VALUES, e.g. `INSERT INTO t (a, b)`. */
  constructor(
    private readonly db: Database.Database,
    private readonly head: string,
    private readonly columns: number,
  ) {}

  /** Queues one row (exactly `columns` values); may write a full group. */
  add(...row: unknown[]): void {
    for (const v of row) this.values.push(v);
    if (++this.rows === ROWS_PER_STATEMENT) this.flush();
  }

  /** Writes the queued rows. Call before anything in the transaction reads or updates them. */
  flush(): void {
    if (this.rows === 0) return;
    this.statement(this.rows).run(this.values);
    this.values.length = 0;
    this.rows = 0;
  }

  /** Drops queued rows (their transaction failed). */
  discard(): void {
    this.values.length = 0;
    this.rows = 0;
  }

  private statement(rows: number): Database.Statement {
    let st = this.statements.get(rows);
    if (!st) {
      const one = `(${new Array(this.columns).fill('?').join(', ')})`;
      st = this.db.prepare(`${this.head} VALUES ${new Array(rows).fill(one).join(', ')}`);
      this.statements.set(rows, st);
    }
    return st;
  }
}
