import type { CaptureMode, SessionRecorder } from '../../model/recorder.js';
import type { ResultColumn } from '../../model/session.js';
import { decoderFor } from '../../protocol/postgres/client-encoding.js';
import {
  type Bind,
  type Column,
  decodeDataRow,
  type FunctionCall,
  type Notice,
  type Parse,
  rowsFromTag,
} from '../../protocol/postgres/decode.js';
import { renderValue, typeName } from '../../protocol/postgres/types.js';
import { Fifo } from '../../wire/fifo.js';
import { decodeWireText, type TextDecode } from '../../wire/text.js';
import { TxBoundaries } from './tx-boundaries.js';

/**
 * Turns what crosses the wire into session events. It mirrors the server's queue of
 * pending responses (PostgreSQL docs, "Extended Query" and "Pipelining"): each Parse,
 * Bind, Close, Describe, Execute, Sync, Query and FunctionCall expects a known reply,
 * so every outcome is paired with the statement it belongs to, even when a client
 * pipelines many statements before one Sync.
 */

type Pending =
  | { kind: 'parse'; sql: string }
  | { kind: 'bind' | 'close' | 'sync' }
  /** What a Describe asked about, as it was when sent (a pipeline may rebind the name before the answer). */
  | { kind: 'describe'; statement: Statement | undefined; portal: Portal | undefined }
  /** `resumed`: an Execute of a portal executed before, which continues its statement. */
  | { kind: 'execute'; sentAt: number; portal: string; bound: Portal | undefined; resumed: boolean }
  /** A statement the policy denied; its stand-in's error is dbtape's, recorded as a `denied` event. */
  | { kind: 'denied'; extended: boolean }
  | { kind: 'simple'; sentAt: number; sql: string }
  | { kind: 'fcall'; sentAt: number };

interface Statement {
  readonly sql: string;
  paramTypes: readonly number[];
  /** From a Describe of the statement: drivers that cache it never describe again. */
  columns: readonly Column[] | null;
}

interface Portal {
  readonly sql: string;
  readonly statement: string;
  /** The statement it was bound from, whose columns a later Describe may still tell. */
  readonly source: Statement | undefined;
  readonly resultFormats: readonly number[];
  readonly params: readonly (string | null)[];
  /**
   * From a Describe of the portal, or the statement's columns with this Bind's result formats once
   * rows arrive (executeColumns; the statement may be described after the Bind, in a pipeline).
   */
  columns: readonly Column[] | null;
  /** An Execute was sent for it: another one resumes the statement, it does not run it again. */
  executed: boolean;
  /** Rows its Executes answered so far, and how many of them were captured (max_rows is the statement's). */
  fetched: number;
  captured: number;
}

const now = (): number => performance.now();

/** Apply a Bind's result-format codes (none: text; one: for all; else per column). */
function withFormats(cols: readonly Column[], formats: readonly number[]): readonly Column[] {
  if (formats.length === 0)
    return cols.every((c) => c.format === 0) ? cols : cols.map((c) => ({ ...c, format: 0 }));
  return cols.map((c, i) => ({ ...c, format: formats.length === 1 ? formats[0] : (formats[i] ?? 0) }));
}
const I = 0x49;

export class PgTracker {
  private readonly queue = new Fifo<Pending>();
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  /** As of the last ReadyForQuery; the recorded boundaries follow each statement (txBoundaries). */
  private txStatus = I;
  private readonly txBoundaries = new TxBoundaries((state) => this.rec.event({ kind: 'tx', state }));
  /** Rows seen since the current result began. */
  private rows = 0;
  private columns: readonly Column[] | null = null;
  private describedFrom: readonly Column[] | null = null;
  private described: readonly ResultColumn[] = [];
  private captured: (string | null)[][] = [];
  /** When the previous result completed: a pipelined statement's clock starts no earlier. */
  private lastCompletion = 0;
  private copy: { direction: 'in' | 'out'; bytes: number } | null = null;

  constructor(
    private readonly rec: SessionRecorder,
    private readonly capture: CaptureMode,
    private readonly maxRows: number,
    /**
     * False when the tracker only follows the session for max_rows or masking: parameters are then
     * not rendered, since no event is kept.
     */
    private readonly recording = true,
    /** The application name the client logged in with (its startup packet's application_name). */
    private appName: string | null = null,
  ) {}

  /** Transaction status as of the last ReadyForQuery. */
  get status(): 'I' | 'T' | 'E' {
    return String.fromCharCode(this.txStatus) as 'I' | 'T' | 'E';
  }

  /** True while a COPY FROM STDIN is running (client CopyData is expected). */
  get copyingIn(): boolean {
    return this.copy?.direction === 'in';
  }

  // ---- client → server -------------------------------------------------------------

  // The statement is recorded before its start is taken (here and in execute and functionCall):
  // then a pause between the two (a GC on a busy machine) cannot make the recorded duration
  // longer than the time between the statement's event and its outcome's.
  query(sql: string): void {
    this.rec.event({ kind: 'query', sql, via: 'simple' });
    this.queue.push({ kind: 'simple', sentAt: now(), sql });
  }

  parse(p: Parse): void {
    this.statements.set(p.name, { sql: p.sql, paramTypes: p.paramTypes, columns: null });
    this.queue.push({ kind: 'parse', sql: p.sql });
  }

  bind(b: Bind): void {
    const st = this.statements.get(b.statement);
    const types = st?.paramTypes ?? [];
    const params = this.recording
      ? b.values.map((v, i) => renderValue(v, b.formats[i], types[i] ?? 0, undefined, this.text))
      : [];
    this.portals.set(b.portal, {
      sql: st?.sql ?? '',
      statement: b.statement,
      source: st,
      resultFormats: b.resultFormats,
      params,
      columns: null,
      executed: false,
      fetched: 0,
      captured: 0,
    });
    this.queue.push({ kind: 'bind' });
  }

  describe(what: 'S' | 'P', name: string): void {
    this.queue.push({
      kind: 'describe',
      statement: what === 'S' ? this.statements.get(name) : undefined,
      portal: what === 'P' ? this.portals.get(name) : undefined,
    });
  }

  close(what: 'S' | 'P', name: string): void {
    if (what === 'S') this.statements.delete(name);
    else this.portals.delete(name);
    this.queue.push({ kind: 'close' });
  }

  execute(portalName: string): void {
    const portal = this.portals.get(portalName);
    // A portal runs its statement once; a later Execute fetches on from where the row limit of the
    // last one suspended it (PostgreSQL docs, "Extended Query"). Decided here, as sent, not when
    // PortalSuspended arrives: a client may send the next Execute before that.
    if (portal?.executed) {
      this.queue.push({ kind: 'execute', sentAt: now(), portal: portalName, bound: portal, resumed: true });
      return;
    }
    if (portal) portal.executed = true;
    this.rec.event({
      kind: 'query',
      sql: portal?.sql ?? '',
      params: portal?.params ?? [],
      statement: portal?.statement || undefined,
      via: 'extended',
    });
    this.queue.push({ kind: 'execute', sentAt: now(), portal: portalName, bound: portal, resumed: false });
  }

  sync(): void {
    this.queue.push({ kind: 'sync' });
  }

  /** A denied Query, FunctionCall (`extended` false) or Parse went upstream as a stand-in. */
  denial(extended: boolean): void {
    this.queue.push({ kind: 'denied', extended });
  }

  functionCall(fc: FunctionCall): void {
    const params = this.recording
      ? fc.values.map((v, i) => renderValue(v, fc.formats[i], 0, undefined, this.text))
      : [];
    this.rec.event({ kind: 'query', sql: `-- function call: oid ${fc.oid}`, params, via: 'function_call' });
    this.queue.push({ kind: 'fcall', sentAt: now() });
  }

  copyDataIn(bytes: number): void {
    if (this.copy) this.copy.bytes += bytes;
  }

  // ---- server → client -------------------------------------------------------------

  parameterDescription(oids: readonly number[]): void {
    // The server's inferred types let us render binary parameters of later Binds.
    const h = this.peek();
    const st = h?.kind === 'describe' ? h.statement : undefined;
    if (st?.paramTypes.every((t) => t === 0)) st.paramTypes = oids;
  }

  /** Returns true when the description starts a result (false: it answers a Describe). */
  rowDescription(cols: readonly Column[]): boolean {
    const h = this.peek();
    if (h?.kind === 'describe') {
      // Describe answers are remembered for later executions; they start no result. A portal's
      // answer tells its statement's columns too: drivers such as pgjdbc describe a portal once,
      // then run the statement again and again with Bind and Execute alone.
      this.pop();
      if (h.statement) h.statement.columns = cols;
      if (h.portal) {
        h.portal.columns = cols;
        if (h.portal.source && h.portal.source.columns === null) h.portal.source.columns = cols;
      }
      this.columns = cols;
      return false;
    }
    this.columns = cols;
    this.rows = 0;
    this.captured = [];
    return true;
  }

  /** The columns of the Execute whose rows arrive now, when a Describe told them. */
  currentColumns(): readonly Column[] | null {
    // An Execute's own columns carry its Bind's result formats; a statement Describe's do not.
    return this.executeColumns() ?? this.columns;
  }

  /** The portal of the Execute being answered; null for a simple query. */
  currentPortal(): string | null {
    const h = this.peek();
    return h?.kind === 'execute' ? h.portal : null;
  }

  noData(): void {
    if (this.peek()?.kind === 'describe') this.pop();
  }

  dataRow(body: Buffer | null): void {
    if (this.columns === null) this.columns = this.executeColumns();
    this.rows++;
    if (body !== null && this.capture === 'rows' && this.captured.length < this.captureRoom()) {
      const cols = this.columns;
      const values = decodeDataRow(body);
      this.captured.push(
        values.map((v, i) =>
          renderValue(v, cols?.[i]?.format ?? 0, cols?.[i]?.typeOid ?? 0, undefined, this.text),
        ),
      );
    }
  }

  copyDataOut(bytes: number): void {
    if (this.copy) this.copy.bytes += bytes;
  }

  copyResponse(direction: 'in' | 'out'): void {
    this.copy = { direction, bytes: 0 };
  }

  parseComplete(): void {
    if (this.peek()?.kind === 'parse') this.pop();
  }

  bindComplete(): void {
    if (this.peek()?.kind === 'bind') this.pop();
  }

  closeComplete(): void {
    if (this.peek()?.kind === 'close') this.pop();
  }

  commandComplete(tag: string): void {
    // Read before complete() pops an Execute: COMMIT and ROLLBACK tags need their statement's text.
    const sql = this.statementText();
    if (this.copy) {
      const { direction, bytes } = this.copy;
      this.rec.event({ kind: 'copy', direction, bytes, rows: rowsFromTag(tag) });
      this.copy = null;
    }
    this.complete(tag);
    this.txBoundaries.completed(tag, sql);
  }

  emptyQuery(): void {
    this.complete('');
  }

  portalSuspended(): void {
    this.complete('SUSPENDED');
  }

  functionResult(): void {
    this.complete('FUNCTION CALL');
  }

  /** The server's error for a denied statement's stand-in: the `denied` event already tells it. */
  deniedReply(): void {
    this.copy = null;
    if (this.peek()?.kind === 'denied') this.pop();
    this.lastCompletion = now();
    this.resetResult();
  }

  error(n: Notice): void {
    this.copy = null;
    const h = this.peek();
    const extended =
      h !== undefined && h.kind !== 'simple' && h.kind !== 'fcall' && !(h.kind === 'denied' && !h.extended);
    // The Execute this error stands for: a failed Parse, Bind or Describe fails the statement whose
    // Execute follows it before the Sync, and that Execute already recorded the statement.
    const failed = extended ? this.executeBeforeSync() : undefined;
    const started = this.startOf(failed ?? h);
    if (h?.kind === 'parse' && !failed) {
      // A statement that failed before any Execute (Parse then Sync): record it so the error has its context.
      this.rec.event({ kind: 'query', sql: h.sql, params: [], via: 'extended' });
    }
    this.rec.event({
      kind: 'error',
      code: n.code,
      message: n.message,
      severity: n.severity,
      durationUs: started === null ? undefined : Math.round((now() - started) * 1000),
    });
    this.lastCompletion = now();
    this.resetResult();
    // After an error in extended mode the server discards everything up to Sync.
    if (extended) this.discardToSync(failed);
  }

  notice(n: Notice): void {
    this.rec.event({ kind: 'notice', severity: n.severity, code: n.code, message: n.message });
  }

  /** How the session's text reads: its client_encoding (ParameterStatus, at login and after SET). */
  text: TextDecode = decodeWireText;

  clientEncoding(name: string): void {
    this.text = decoderFor(name);
  }

  /**
   * The server reported application_name (ParameterStatus) after login: a client that names itself
   * with SET (pgjdbc's ApplicationName, DBeaver) or set_config. Recorded when it changed.
   */
  applicationName(name: string): void {
    if (name === this.appName) return;
    this.appName = name;
    this.rec.event({ kind: 'client', application: name });
  }

  notification(channel: string, payload: string): void {
    this.rec.event({ kind: 'notification', channel, payload });
  }

  readyForQuery(status: number): void {
    for (let h = this.peek(); h; h = this.peek()) {
      this.pop();
      if (h.kind === 'sync' || h.kind === 'simple' || h.kind === 'fcall') break;
      if (h.kind === 'denied' && !h.extended) break;
    }
    this.txStatus = status;
    this.txBoundaries.ready(status);
  }

  // ---- internals -------------------------------------------------------------------

  private complete(tag: string): void {
    const h = this.peek();
    if (this.columns === null && this.rows > 0) this.columns = this.executeColumns();
    const started = this.startOf(h);
    const cols = this.capture !== 'none' && this.columns ? this.describeColumns(this.columns) : undefined;
    const withRows = this.capture === 'rows' && this.columns !== null;
    // A portal read in chunks: after a PortalSuspended the server's tag counts only the last
    // Execute's rows (PostgreSQL 15: SELECT 6 after 7 + 7 of 20; INSERT ... RETURNING too), so
    // the statement's rows are the ones counted across its Executes.
    const p = h?.kind === 'execute' ? h.bound : undefined;
    const resumed = h?.kind === 'execute' && h.resumed;
    const chunked = p !== undefined && (resumed || tag === 'SUSPENDED');
    let rows: number | null;
    if (chunked) {
      p.fetched += this.rows;
      p.captured += this.captured.length;
      rows = p.fetched;
    } else {
      const dml = /^(INSERT|UPDATE|DELETE|MERGE)\b/.test(tag);
      // Rows returned are what we counted; rows affected are what the tag says.
      rows = this.columns !== null && !dml ? this.rows : rowsFromTag(tag);
    }
    this.rec.event({
      kind: 'result',
      tag,
      rows,
      durationUs: started === null ? 0 : Math.round((now() - started) * 1000),
      columns: cols,
      rowData: withRows ? this.captured : undefined,
      truncated: withRows && this.rows > this.captured.length ? true : undefined,
      fetched: resumed ? this.rows : undefined,
    });
    this.lastCompletion = now();
    this.resetResult();
    // A simple query or function call is popped by its ReadyForQuery.
    if (h?.kind === 'execute') this.pop();
  }

  /** How many more rows the current result may capture: max_rows counts a portal's rows across its Executes. */
  private captureRoom(): number {
    const h = this.peek();
    return h?.kind === 'execute' && h.resumed ? this.maxRows - h.bound!.captured : this.maxRows;
  }

  /** Columns of the Execute whose rows are arriving, known from an earlier Describe. */
  private executeColumns(): readonly Column[] | null {
    const h = this.peek();
    const p = h?.kind === 'execute' ? h.bound : undefined;
    if (!p) return null;
    if (p.columns === null && p.source?.columns) p.columns = withFormats(p.source.columns, p.resultFormats);
    return p.columns;
  }

  /** The recorded form of a result's columns; the same columns again (a memo'd RowDescription) give the same array. */
  private describeColumns(cols: readonly Column[]): readonly ResultColumn[] {
    if (cols !== this.describedFrom) {
      this.described = cols.map((c) => ({ name: c.name, type: typeName(c.typeOid) }));
      this.describedFrom = cols;
    }
    return this.described;
  }

  private resetResult(): void {
    this.rows = 0;
    this.columns = null;
    this.captured = [];
  }

  private startOf(h: Pending | undefined): number | null {
    if (!h || !('sentAt' in h)) return null;
    return Math.max(h.sentAt, this.lastCompletion);
  }

  /** The first Execute between the head and the next Sync. */
  private executeBeforeSync(): Pending | undefined {
    for (let i = 0; i < this.queue.length; i++) {
      const p = this.queue.at(i)!;
      if (p.kind === 'execute') return p;
      if (p.kind === 'sync') return undefined;
    }
    return undefined;
  }

  /** Drops what the server skips after an error; every Execute but the failed one was not run. */
  private discardToSync(failed: Pending | undefined): void {
    for (let h = this.peek(); h && h.kind !== 'sync'; h = this.peek()) {
      this.pop();
      // A skipped Execute of a portal read in chunks ran no statement: the error already tells it.
      if (h.kind === 'execute' && h !== failed && !h.resumed) {
        this.rec.event({
          kind: 'error',
          code: '',
          message: 'not executed: an earlier message in the same pipeline failed',
        });
      }
    }
  }

  /** The session ends: an open transaction left idle is recorded as rolled back. */
  sessionEnded(): void {
    if (this.queue.length === 0) this.txBoundaries.sessionEnded();
  }

  /** The text of the statement whose answer is arriving (a simple query's whole string). */
  private statementText(): string {
    const h = this.peek();
    return h?.kind === 'simple' ? h.sql : h?.kind === 'execute' ? (h.bound?.sql ?? '') : '';
  }

  private peek(): Pending | undefined {
    return this.queue.peek();
  }

  private pop(): void {
    this.queue.shift();
  }
}
