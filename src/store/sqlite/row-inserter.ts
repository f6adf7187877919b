/**
 * Inserts rows into one table many at a time. The store writes two rows per recorded statement
 * (its event and its search-index entry), and each better-sqlite3 `run` has a fixed cost (the
 * call, a result object built property by property) larger than binding a row's values.
 *
 * Statements come in sizes that are multiples of STEP rows, padded with rows of NULLs that the
 * statement drops, so a few prepared statements serve every count.
 *
 * Why the sizes matter for the search index: FTS5 writes its pending terms out as a new index
 * segment whenever a statement opens a savepoint, which every multi-row insert into a virtual table
 * does. Its rows are therefore inserted once per transaction (up to `maxRows` per statement): one
 * segment per transaction, as single-row inserts made. Plain tables are inserted with
 * `INSERT OR FAIL`, which needs no savepoint (a failed insert fails the whole transaction anyway),
 * so their groups do not make the index flush either.
 */
import type Database from 'better-sqlite3';

const STEP = 32;

export class RowInserter {
  private readonly values: unknown[] = [];
  private rows = 0;
  /** Prepared statements by padded row count. */
  private readonly statements = new Map<number, Database.Statement>();

  /**
   * `head` is everything before the rows, e.g. `INSERT OR FAIL INTO t (a, b)`; the first column
   * must never be NULL in a real row (padding rows are recognised by it). `maxRows`: a multiple
   * of STEP; add() writes a full group at once.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly head: string,
    private readonly columns: number,
    private readonly maxRows: number,
  ) {}

  /** Queues one row (exactly `columns` values). */
  add(...row: unknown[]): void {
    for (const v of row) this.values.push(v);
    if (++this.rows === this.maxRows) this.flush();
  }

  /** Writes the queued rows. Call before anything in the transaction reads or updates them. */
  flush(): void {
    if (this.rows === 0) return;
    const size = Math.ceil(this.rows / STEP) * STEP;
    for (let i = this.rows * this.columns; i < size * this.columns; i++) this.values.push(null);
    this.statement(size).run(this.values);
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
      st = this.db.prepare(
        `${this.head} SELECT * FROM (VALUES ${new Array(rows).fill(one).join(', ')}) WHERE column1 IS NOT NULL`,
      );
      this.statements.set(rows, st);
    }
    return st;
  }
}
