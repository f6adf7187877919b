import type { CaptureMode, SessionRecorder } from '../../model/recorder.js';
import type { SessionEventBody } from '../../model/session.js';
import {
  decodeBinaryRow,
  decodeTextRow,
  type ErrPacket,
  type ResponseTracker,
  SERVER_STATUS_CURSOR_EXISTS,
  SERVER_STATUS_IN_TRANS,
} from '../../protocol/mysql/index.js';

/**
 * Turns what the MySQL pipeline sees into session events (model/session.ts): statements with
 * their parameters, one result per result set or OK (multi-statements and CALL give several),
 * errors with errno and SQLSTATE, protocol commands, transaction boundaries from the
 * SERVER_STATUS_IN_TRANS flag, and the first rows when capture_results is `rows`.
 */

/** Values longer than this are cut in captured rows (the recording is not a data copy). */
const MAX_CAPTURED_VALUE = 64 * 1024;

export class SessionEvents {
  private rows: (string | null)[][] = [];
  private stopped = false;
  private inTrans = false;
  private lastVerb = '';
  /** Verbs of the statements of the last query, one per result of a multi-statement. */
  private verbs: string[] = [];
  private resultIndex = 0;
  /** Tag of the result just recorded: a ROLLBACK ending a transaction is a rollback. */
  private resultVerb = '';

  constructor(
    private readonly rec: SessionRecorder,
    /** False when nothing is recorded: every method returns at once. */
    readonly active: boolean,
    readonly capture: CaptureMode,
    private readonly maxRows: number,
  ) {}

  get capturingRows(): boolean {
    return this.active && this.capture === 'rows' && !this.stopped && this.rows.length < this.maxRows;
  }

  /** A row too big to capture: keep the captured rows a prefix of the result, stop here. */
  stopCapture(): void {
    this.stopped = true;
  }

  statement(
    sql: string,
    via: 'simple' | 'prepared',
    params?: readonly (string | null)[],
    statement?: string,
  ): void {
    if (!this.active) return;
    this.lastVerb = verbOf(sql);
    // Good enough for tags: a `;` inside a string literal only shifts the names of later results.
    this.verbs = sql.includes(';')
      ? sql
          .split(';')
          .map(verbOf)
          .filter((v) => v !== '')
      : [this.lastVerb];
    this.resultIndex = 0;
    const body: SessionEventBody =
      params === undefined ? { kind: 'query', sql, via } : { kind: 'query', sql, params, statement, via };
    this.rec.event(body);
  }

  command(command: string, detail?: string): void {
    if (this.active)
      this.rec.event(
        detail === undefined ? { kind: 'command', command } : { kind: 'command', command, detail },
      );
  }

  /** A text or binary row of the current result, decoded for capture_results: rows. */
  row(t: ResponseTracker, payload: Buffer): void {
    // COM_STMT_FETCH rows come without their definitions (they came with the execute): counted only.
    if (!this.capturingRows || t.columns.count === 0) return;
    const opts = { maxValueBytes: MAX_CAPTURED_VALUE };
    if (t.binary) {
      const types = t.columns.types();
      if (!types.ok) return;
      const r = decodeBinaryRow(payload, types.value, opts);
      if (r.ok) this.rows.push(r.value);
    } else {
      const enc = t.columns.encodings();
      if (!enc.ok) return;
      const r = decodeTextRow(payload, enc.value, opts);
      if (r.ok) this.rows.push(r.value);
    }
  }

  /**
   * A result set or OK just ended (the tracker still holds it). `shown`: rows the client got, when
   * max_rows cut the result.
   */
  result(t: ResponseTracker, durationUs: number, fetch: boolean, shown?: number): void {
    if (!this.active) return;
    const rows = this.rows;
    this.rows = [];
    this.stopped = false;
    const isSet = t.columnCount > 0;
    const cursor = isSet && (t.statusFlags & SERVER_STATUS_CURSOR_EXISTS) !== 0 && !fetch;
    let tag: string;
    if (fetch) tag = 'FETCH';
    else if (cursor) tag = 'CURSOR';
    else tag = this.verbs[this.resultIndex] ?? this.lastVerb;
    if (tag === '') tag = isSet ? 'SELECT' : 'OK';
    this.resultIndex++;
    this.resultVerb = tag;
    const body: SessionEventBody = {
      kind: 'result',
      tag,
      rows: cursor ? null : isSet || fetch ? (shown ?? t.rowCount) : (t.ok?.affectedRows ?? 0),
      durationUs,
      ...(isSet && this.capture !== 'none' ? { columns: this.columns(t) } : {}),
      ...(isSet && this.capture === 'rows'
        ? { rowData: rows, truncated: (shown ?? t.rowCount) > rows.length || undefined }
        : {}),
      ...(t.warnings > 0 || shown !== undefined
        ? { warnings: t.warnings + (shown === undefined ? 0 : 1) }
        : {}),
    };
    this.rec.event(body);
    this.transaction(t.statusFlags);
  }

  error(err: ErrPacket, durationUs?: number): void {
    this.rows = [];
    this.stopped = false;
    if (!this.active) return;
    this.rec.event({
      kind: 'error',
      code: err.sqlState ?? 'HY000',
      message: err.message,
      errno: err.errno,
      ...(durationUs === undefined ? {} : { durationUs }),
    });
  }

  /** A statement the access policy refused (it was not sent upstream). */
  denied(rule: string, sql: string, message: string): void {
    if (this.active) this.rec.event({ kind: 'denied', rule, sql, message });
  }

  /** An error dbtape itself answered with. */
  refusal(errno: number, sqlState: string, message: string): void {
    this.error({ errno, sqlState, message });
  }

  localInfile(bytes: number): void {
    if (this.active) this.rec.event({ kind: 'copy', direction: 'in', bytes, rows: null });
  }

  /** Status flags of every OK/EOF: IN_TRANS going up or down is a transaction boundary. */
  transaction(statusFlags: number): void {
    const now = (statusFlags & SERVER_STATUS_IN_TRANS) !== 0;
    if (now === this.inTrans) return;
    this.inTrans = now;
    if (!this.active) return;
    if (now) this.rec.event({ kind: 'tx', state: 'begin' });
    else this.rec.event({ kind: 'tx', state: this.resultVerb === 'ROLLBACK' ? 'rollback' : 'commit' });
  }

  private columns(t: ResponseTracker): { name: string; type: string }[] {
    const c = t.columns.resultColumns();
    return c.ok ? c.value : [];
  }
}

/** The statement's first keyword, upper-cased ('' when there is none), for the result tag. */
export function verbOf(sql: string): string {
  const m = /^(?:\s+|\/\*(?:[^*]|\*(?!\/))*\*\/|(?:--\s|#)[^\n]*(?:\n|$)|\()*([A-Za-z]+)/.exec(sql);
  return m ? m[1].toUpperCase() : '';
}
