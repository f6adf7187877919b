import type { MaskingRules } from '../../policy/index.js';
import {
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  lenencPrefixSize,
  type ResponseTracker,
  SERVER_STATUS_LAST_ROW_SENT,
} from '../../protocol/mysql/index.js';
import { maskBinaryRow, maskTextRow, planRowMask, type RowMaskPlan } from './mask-rows.js';
import type { Pending } from './pending.js';

/**
 * What a role's `max_rows` and `masking` do to result rows on their way to the client. The cap:
 * the client gets the first N rows of each result set; the rest are read from the server and
 * dropped (the server still produces them), and the result's terminator (EOF, or OK under
 * CLIENT_DEPRECATE_EOF) carries one more warning, so `mysql` prints "N rows in set, 1 warning" and
 * drivers see a clean end. A cursor counts rows across its COM_STMT_FETCHes; once capped, a fetch's
 * EOF says SERVER_STATUS_LAST_ROW_SENT so the client stops. Masking rewrites the values of the
 * columns MaskingRules picks, planned once per result from its column definitions.
 *
 * That extra warning is dbtape's, so the server's SHOW WARNINGS does not know it: when the next
 * command is `SHOW WARNINGS` (as the mysql client's `\W` sends it), dbtape adds a row for it to
 * the server's list.
 */

export type RowAction = 'pass' | 'drop' | 'mask';

interface CursorState {
  delivered: number;
  readonly plan: RowMaskPlan | null;
  /** The plan could be made (the execute's column definitions were read). */
  readonly known: boolean;
}

export class ResultShaper {
  /** Rows of the current result were dropped. */
  truncated = false;
  /** Rows passed to the client in the current result (or fetch). */
  shown = 0;
  /** The warning of the last result dbtape cut, until the next command; null: none. */
  warning: string | null = null;
  /** The warning to add to the SHOW WARNINGS being answered; null: none. */
  private injection: string | null = null;
  /** Rows of the current result not sent. */
  private dropped = 0;
  /** Prepared statements that are `SHOW WARNINGS`. */
  private readonly warningsStatements = new Set<number>();
  /** Prepared statements that are one plain SELECT (see selects). */
  private readonly selectStatements = new Set<number>();
  private terminated = false;
  /** Rows counted against the cap: this result's, or the cursor's so far. */
  private delivered = 0;
  private plan: RowMaskPlan | null = null;
  private planKnown = false;
  private cursor: CursorState | null = null;
  private readonly cursors = new Map<number, CursorState>();

  constructor(
    readonly maxRows: number | null,
    readonly masking: MaskingRules | null,
  ) {}

  /** A command's response starts. */
  beginResponse(p: Pending): void {
    // Only the warnings of the command just before survive, as on the server; neither preparing nor
    // running SHOW WARNINGS clears them.
    const kept = p.showsWarnings ? this.warning : null;
    this.injection = p.command !== COM_STMT_PREPARE ? kept : null;
    this.beginResult();
    this.warning = kept;
    this.cursor = null;
    if (p.command !== COM_STMT_FETCH) return;
    // A fetch for a cursor whose definitions dbtape never read cannot be masked: its rows are dropped.
    const c = this.cursors.get(p.statement) ?? { delivered: 0, plan: null, known: this.masking === null };
    this.cursor = c;
    this.delivered = c.delivered;
    this.plan = c.plan;
    this.planKnown = c.known;
  }

  /** A result set starts (its column count arrived). */
  beginResult(): void {
    this.warning = null;
    this.dropped = 0;
    this.truncated = false;
    this.terminated = false;
    this.shown = 0;
    this.delivered = 0;
    this.plan = null;
    this.planKnown = this.masking === null;
  }

  /** The result's column definitions are complete (`t.columns` holds them). */
  columnsReady(t: ResponseTracker, p: Pending): void {
    if (this.masking !== null) {
      const defs = t.columns.definitions();
      const types = t.columns.types();
      this.planKnown = defs.ok && types.ok;
      this.plan =
        defs.ok && types.ok ? planRowMask(this.masking, defs.value, types.value, p.showsWarnings) : null;
    }
    if (p.cursor && p.statement >= 0) {
      this.cursors.set(p.statement, { delivered: 0, plan: this.plan, known: this.planKnown });
    }
  }

  /** COM_STMT_CLOSE: the statement is gone. */
  forgetStatement(statement: number): void {
    this.cursors.delete(statement);
    this.warningsStatements.delete(statement);
    this.selectStatements.delete(statement);
  }

  /** max_rows is reached in the current result (rows past it are dropped). */
  get capped(): boolean {
    return this.maxRows !== null && this.delivered >= this.maxRows;
  }

  /** What to do with the next row of the current result. */
  row(): RowAction {
    if (this.capped || !this.planKnown) {
      this.truncated = true;
      this.dropped++;
      return 'drop';
    }
    this.delivered++;
    this.shown++;
    if (this.cursor !== null) this.cursor.delivered++;
    return this.plan === null ? 'pass' : 'mask';
  }

  /** The warning to add before the terminator of the SHOW WARNINGS result being answered, once; null: none. */
  takeInjection(): string | null {
    const w = this.injection;
    if (w === null) return null;
    this.injection = null;
    // SHOW WARNINGS leaves the list as it was: asked again, it shows the same.
    this.warning = w;
    return w;
  }

  /** A prepared `SHOW WARNINGS` (its prepare was answered with this id). */
  warningsStatement(id: number): void {
    this.warningsStatements.add(id);
  }

  /** Whether executing this statement shows the warnings. */
  showsWarnings(id: number): boolean {
    return this.warningsStatements.has(id);
  }

  /** A prepared statement the policy read as one plain SELECT (its prepare was answered with this id). */
  selectStatement(id: number): void {
    this.selectStatements.add(id);
  }

  /** Whether this statement is one plain SELECT: an execute of it may be stopped at max_rows. */
  selects(id: number): boolean {
    return this.selectStatements.has(id);
  }

  /** The row with its values masked; null when it cannot be read (it must then not reach the client). */
  mask(t: ResponseTracker, payload: Buffer): Buffer | null {
    const plan = this.plan;
    if (plan === null) return payload;
    return t.binary ? maskBinaryRow(payload, plan) : maskTextRow(payload, plan);
  }

  /** This EOF/OK ends a result whose rows were cut, and has not been changed yet. */
  patches(kind: string): boolean {
    return this.truncated && !this.terminated && (kind === 'eof' || kind === 'ok');
  }

  /**
   * The terminator with one more warning (and, for a fetch, LAST_ROW_SENT). `stopped`: dbtape
   * stopped the statement at the cap (the terminator is its own, in place of the server's ERR).
   */
  terminator(payload: Buffer, fetch: boolean, stopped = false): Buffer {
    this.terminated = true;
    const n = this.dropped;
    const rows = stopped ? 'the query was stopped there' : `${n} more ${n === 1 ? 'row' : 'rows'} not sent`;
    this.warning = this.capped
      ? `dbtape: result truncated to ${this.maxRows} rows by rule max_rows (${rows})`
      : `dbtape: rows that could not be read for masking were dropped (${rows})`;
    const out = Buffer.from(payload);
    let at: number;
    if (out.length < 7) {
      at = 1; // classic EOF: warnings, status
    } else {
      // OK: affected rows, last insert id (lenenc), status, warnings (MySQL "OK_Packet")
      let pos = 1;
      pos += lenencPrefixSize(out[pos]);
      pos += lenencPrefixSize(out[pos]);
      if (pos + 4 > out.length) return out;
      if (fetch) out.writeUInt16LE(out.readUInt16LE(pos) | SERVER_STATUS_LAST_ROW_SENT, pos);
      out.writeUInt16LE(Math.min(0xffff, out.readUInt16LE(pos + 2) + 1), pos + 2);
      return out;
    }
    if (out.length < 5) return out;
    out.writeUInt16LE(Math.min(0xffff, out.readUInt16LE(at) + 1), at);
    if (fetch) out.writeUInt16LE(out.readUInt16LE(at + 2) | SERVER_STATUS_LAST_ROW_SENT, at + 2);
    return out;
  }
}
