import { isTextualPgType, type MaskingRules, type ValueMasker } from '../../policy/index.js';
import type { Column } from '../../protocol/postgres/decode.js';
import { commandComplete, noticeResponse } from '../../protocol/postgres/encode.js';
import { type MaskedOrigins, type OriginColumn, originKey } from './mask-catalog.js';
import { maskDataRow } from './mask-row.js';

/**
 * What a role's `max_rows` and `masking` do to results on one PostgreSQL session. A result runs
 * from its RowDescription (simple query) or its first DataRow (Execute) to CommandComplete,
 * PortalSuspended, EmptyQueryResponse or an error. A portal read in pages (Execute with a row
 * limit, PortalSuspended) keeps its count across pages, so paging does not lift the cap.
 */

/** A column whose type and name are unknown (an Execute dbtape saw no Describe for): masked as NULL. */
const UNKNOWN_COLUMNS: readonly (ValueMasker | null)[] = new Array<ValueMasker>(1664).fill(() => null);

/** Type byte, length, column count. */
const MIN_DATA_ROW = 7;

export interface Truncation {
  /** A WARNING telling the client how many rows were not sent. */
  readonly notice: Buffer;
  readonly noticeText: string;
  /** The CommandComplete to send instead (SELECT/FETCH/MOVE tags count the rows sent), or null to keep it. */
  readonly commandComplete: Buffer | null;
  readonly tag: string;
}

export class PgResultPolicy {
  private inResult = false;
  private rows = 0;
  private dropped = 0;
  private portal: string | null = null;
  private columns: readonly Column[] | null = null;
  private plan: readonly (ValueMasker | null)[] | null = null;
  /** Rows sent so far from portals that are suspended (read in pages). */
  private readonly suspended = new Map<string, number>();
  /** Table columns the masking rules cover, by origin (mask-catalog.ts). */
  origins: MaskedOrigins = new Map();

  constructor(
    readonly maxRows: number | null,
    readonly masking: MaskingRules | null,
  ) {}

  get active(): boolean {
    return this.inResult;
  }

  /** A simple query's result is running (not an Execute's). */
  get simple(): boolean {
    return this.inResult && this.portal === null;
  }

  /** The current result has dropped rows: its end gets a warning and a rewritten tag. */
  get truncating(): boolean {
    return this.inResult && this.dropped > 0;
  }

  /** A result begins; `portal`: the Execute's portal (null for a simple query). */
  start(columns: readonly Column[] | null, portal: string | null): void {
    this.inResult = true;
    this.portal = portal;
    this.columns = columns;
    this.rows = portal === null ? 0 : (this.suspended.get(portal) ?? 0);
    this.dropped = 0;
    this.plan = this.masking ? this.planFor(columns) : null;
  }

  /**
   * Whether a chunk of `bytes` server bytes may need edits. Masking edits rows; max_rows only once a
   * result can pass the cap within the chunk. A DataRow takes at least 7 bytes, so at most
   * ceil(bytes / 7) rows start in a chunk (the last may start in its last byte, and its first bytes
   * must then be held back too): below the cap it is forwarded whole, before it is framed, and only
   * its headers are read (pgbench -S rows never come near a cap of 1000).
   */
  mayEdit(bytes: number): boolean {
    if (this.masking !== null || this.maxRows === null || this.suspended.size > 0) return true;
    const counted = this.inResult ? this.rows : 0;
    return counted + Math.ceil(bytes / MIN_DATA_ROW) > this.maxRows;
  }

  /** Whether the next DataRow is sent (false: over the cap, dropped). */
  admit(): boolean {
    if (this.maxRows !== null && this.rows >= this.maxRows) {
      this.dropped++;
      return false;
    }
    this.rows++;
    return true;
  }

  /** The DataRow message to send instead of this body's, or null to send it unchanged. */
  mask(body: Buffer): Buffer | null {
    return this.plan ? maskDataRow(body, this.plan, this.columns) : null;
  }

  /**
   * CommandComplete ends the result: what to send instead when rows were dropped. `stopped`: the
   * result ends because dbtape cancelled the query at the cap (the server sent no tag; pass the
   * command's own, e.g. `SELECT 0`).
   */
  complete(tag: string, stopped = false): Truncation | null {
    if (this.portal !== null) this.suspended.delete(this.portal);
    const t = this.truncation(tag, stopped);
    this.inResult = false;
    return t;
  }

  /** PortalSuspended: the portal's count carries over to its next Execute. */
  suspend(): Truncation | null {
    if (this.portal !== null) this.suspended.set(this.portal, this.rows);
    const t = this.truncation(null);
    this.inResult = false;
    return t;
  }

  /**
   * PortalSuspended of an Execute whose row limit dbtape set to max_rows + 1 where the client asked
   * for every row: the server stopped after the row over the cap, and the result ends here as if
   * complete, with a SELECT tag counting the rows sent. The portal keeps its count, so that another
   * Execute of it sends no further rows.
   */
  limitReached(): Truncation {
    if (this.portal !== null) this.suspended.set(this.portal, this.rows);
    // The server sent max_rows + 1 rows, so one was dropped; the result always ends with the warning.
    const t = this.truncation('SELECT 0', true, true)!;
    this.inResult = false;
    return t;
  }

  /** `portal` was bound anew: a count left from an earlier portal of that name is not its own. */
  bound(portal: string): void {
    if (this.suspended.size > 0) this.suspended.delete(portal);
  }

  /** The result ended without a count (error, empty query). */
  abort(): void {
    this.inResult = false;
  }

  /** Portals end with their transaction. */
  idle(): void {
    // Every idle ReadyForQuery comes here, and Map.clear allocates a new table even when empty.
    if (this.suspended.size > 0) this.suspended.clear();
  }

  private truncation(tag: string | null, stopped = false, always = false): Truncation | null {
    if (this.dropped === 0 && !always) return null;
    const rest = stopped
      ? 'the query was stopped there'
      : `${this.dropped} more ${this.dropped === 1 ? 'row' : 'rows'} not sent`;
    const noticeText = `dbtape: result truncated to ${this.maxRows} rows by rule max_rows (${rest})`;
    const notice = noticeResponse({ severity: 'WARNING', code: '01000', message: noticeText });
    const m = tag === null ? null : /^(SELECT|FETCH|MOVE) \d+$/.exec(tag);
    const newTag = m ? `${m[1]} ${this.rows}` : (tag ?? '');
    return { notice, noticeText, commandComplete: m ? commandComplete(newTag) : null, tag: newTag };
  }

  private planFor(columns: readonly Column[] | null): readonly (ValueMasker | null)[] | null {
    if (columns === null) return UNKNOWN_COLUMNS;
    return this.masking!.planColumns(
      columns.map((c) => {
        const { tableOid, attnum } = c as Partial<OriginColumn>;
        const o = tableOid ? this.origins.get(originKey(tableOid, attnum ?? 0)) : undefined;
        const textual = isTextualPgType(c.typeOid);
        return o
          ? { name: c.name, sourceName: o.column, table: o.table, schema: o.schema, textual }
          : { name: c.name, textual };
      }),
    );
  }
}
