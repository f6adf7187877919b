import type { CaptureMode, SessionRecorder } from '../../model/recorder.js';
import type { SessionEventBody } from '../../model/session.js';
import {
  COM_STMT_FETCH,
  decodeBinaryRow,
  decodeTextRow,
  ER_LOCK_DEADLOCK,
  type ErrPacket,
  type ResponseTracker,
  SERVER_STATUS_CURSOR_EXISTS,
  SERVER_STATUS_IN_TRANS,
} from '../../protocol/mysql/index.js';
import type { Pending } from './pending.js';
import { ResultTags } from './result-tags.js';

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
  /** The open transaction is an XA transaction prepared (see result()). */
  private xaPrepared = false;

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
   * A result set or OK of `p` just ended (the tracker still holds it). `shown`: rows the client
   * got, when max_rows cut the result.
   */
  result(t: ResponseTracker, durationUs: number, p: Pending, shown?: number): void {
    if (!this.active) return;
    const rows = this.rows;
    this.rows = [];
    this.stopped = false;
    const isSet = t.columnCount > 0;
    const fetch = p.command === COM_STMT_FETCH;
    const cursor = isSet && (t.statusFlags & SERVER_STATUS_CURSOR_EXISTS) !== 0 && !fetch;
    p.tags ??= new ResultTags(p.sql);
    const verb = p.tags.next();
    let tag: string;
    if (fetch) tag = 'FETCH';
    else if (cursor) tag = 'CURSOR';
    else tag = verb;
    if (tag === '') tag = isSet ? 'SELECT' : 'OK';
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
    this.transaction(t.statusFlags, p.tags.rolledBack ? 'rollback' : 'commit');
    // The server keeps IN_TRANS set after XA PREPARE; the transaction now waits for XA COMMIT or
    // ROLLBACK (from any connection) and outlives this session.
    if (p.tags.xaPrepared && this.inTrans && !this.xaPrepared) {
      this.xaPrepared = true;
      this.rec.event({ kind: 'tx', state: 'prepared' });
    }
  }

  error(err: ErrPacket, durationUs?: number): void {
    this.rows = [];
    this.stopped = false;
    // The server rolled the whole transaction back (InnoDB's deadlock victim); an ERR carries no
    // status flags, and the next OK's would only show the transaction gone.
    const rolledBack = err.errno === ER_LOCK_DEADLOCK.errno && this.inTrans;
    if (rolledBack) this.inTrans = false;
    if (!this.active) return;
    this.rec.event({
      kind: 'error',
      code: err.sqlState ?? 'HY000',
      message: err.message,
      errno: err.errno,
      ...(durationUs === undefined ? {} : { durationUs }),
    });
    if (rolledBack) this.rec.event({ kind: 'tx', state: 'rollback' });
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

  /**
   * The session ends with no command awaiting its response: a transaction still open is rolled
   * back by the server when the connection closes. (With one in flight, a COMMIT may have been it.)
   */
  sessionEnded(): void {
    if (this.inTrans && !this.xaPrepared) this.transaction(0, 'rollback');
  }

  /**
   * Status flags of every OK/EOF: IN_TRANS going up or down is a transaction boundary. `ending`:
   * what a transaction that ends here did, known from what ended it (a ROLLBACK statement,
   * COM_RESET_CONNECTION); anything else that ends one commits it (COMMIT, DDL, LOCK TABLES...).
   */
  transaction(statusFlags: number, ending: 'commit' | 'rollback'): void {
    const now = (statusFlags & SERVER_STATUS_IN_TRANS) !== 0;
    if (now === this.inTrans) return;
    this.inTrans = now;
    this.xaPrepared = false;
    if (!this.active) return;
    this.rec.event({ kind: 'tx', state: now ? 'begin' : ending });
  }

  private columns(t: ResponseTracker): { name: string; type: string }[] {
    const c = t.columns.resultColumns();
    return c.ok ? c.value : [];
  }
}
