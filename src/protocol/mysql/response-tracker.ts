/**
 * Follows a server's response to one client command, one logical packet at a time, to tell the
 * proxy what each packet is and when the response is complete. Layouts (MySQL "Text Resultset",
 * "Binary Protocol Resultset", "COM_STMT_PREPARE Response", "COM_FIELD_LIST"; MariaDB
 * "Result set packets"):
 *   resultset: column count, N column definitions, [EOF unless CLIENT_DEPRECATE_EOF], rows,
 *              then EOF (or OK with 0xFE header under DEPRECATE_EOF) or ERR; a terminator with
 *              SERVER_MORE_RESULTS_EXISTS is followed by another result (multi-statements, CALL).
 *   OK / ERR instead of a resultset; 0xFB + file name: LOCAL INFILE request.
 *   prepare: PREPARE_OK, param definitions [+EOF], column definitions [+EOF].
 * Rows are only counted: the tracker reads their first byte. Packets it must read whole
 * (OK, ERR, EOF, column count and definitions) are answered with 'need-full' when fed only
 * their first segment, so a proxy can forward large rows without buffering them.
 */

import { ColumnStore } from './column-store.js';
import * as C from './constants.js';
import { MysqlCodecError } from './errors.js';
import { peekLenenc } from './lenenc.js';
import { decodeErr, decodeOk, type EofPacket, type ErrPacket, type OkPacket, readEof } from './ok-err.js';
import { initialState, type ResponsePacketKind, type ResponseState as State } from './response-states.js';
import { decodePrepareOk, type PrepareOk } from './statements.js';

export type { ResponsePacketKind } from './response-states.js';

export interface ResponseTrackerOptions {
  /** Capabilities negotiated with the server whose packets are fed (DEPRECATE_EOF, SESSION_TRACK...). */
  readonly capabilities: number;
  /** MariaDB extended capabilities of that connection (EXTENDED_METADATA changes column definitions). */
  readonly mariadbCapabilities?: number;
}

export interface BeginOptions {
  /** COM_STMT_EXECUTE asked for a cursor: rows come later through COM_STMT_FETCH. */
  readonly cursor?: boolean;
}

export class ResponseTracker {
  readonly deprecateEof: boolean;
  readonly capabilities: number;
  /** Column definitions of the current result (or of the prepared statement's columns). */
  readonly columns: ColumnStore;
  command = -1;
  /** Rows are binary protocol rows (COM_STMT_EXECUTE, COM_STMT_FETCH). */
  binary = false;
  columnCount = 0;
  rowCount = 0;
  ok: OkPacket | null = null;
  eof: EofPacket | null = null;
  err: ErrPacket | null = null;
  statusFlags = 0;
  warnings = 0;
  prepareOk: PrepareOk | null = null;
  localInfileName: string | null = null;
  statistics: string | null = null;
  /** The packet just fed was the last column / parameter definition of its section. */
  lastOfMetadata = false;
  /**
   * The packet just fed is the first after a resultset's column definitions under
   * CLIENT_DEPRECATE_EOF (where a classic client expects the metadata EOF).
   */
  afterMetadata = false;
  /** Results finished so far in this response. */
  resultsCompleted = 0;
  protocolError: MysqlCodecError | null = null;
  private state: State = 'idle';
  private cursor = false;
  private seen = 0;
  private metadataJustEnded = false;

  constructor(opts: ResponseTrackerOptions) {
    this.capabilities = opts.capabilities;
    this.deprecateEof = C.hasCap(opts.capabilities, C.CLIENT_DEPRECATE_EOF);
    this.columns = new ColumnStore(
      C.hasCap(opts.mariadbCapabilities ?? 0, C.MARIADB_CLIENT_EXTENDED_METADATA),
    );
  }

  /** The response to the current command is complete (or no response is expected). */
  get done(): boolean {
    return this.state === 'done' || this.state === 'idle';
  }

  /**
   * Between two rows of a result: the caller may frame the rows that follow itself and only count
   * them (countRows).
   */
  get betweenRows(): boolean {
    return this.state === 'rows' && !this.metadataJustEnded;
  }

  /**
   * `n` rows the caller framed by their headers: whole packets shorter than 0xFFFFFF whose first
   * byte is neither EOF (0xFE) nor ERR (0xFF), and 0x00 in a binary result. Only when betweenRows.
   */
  countRows(n: number): void {
    this.rowCount += n;
    this.lastOfMetadata = false;
    this.afterMetadata = false;
  }

  /**
   * A resultset's column definitions come next: the caller may frame them itself and only count
   * them (countDefinitions), when nothing needs their contents.
   */
  get inColumnDefinitions(): boolean {
    return this.state === 'columns';
  }

  /** Column definitions still expected in this resultset (when inColumnDefinitions). */
  get definitionsLeft(): number {
    return this.columnCount - this.seen;
  }

  /**
   * `n` column definitions the caller framed by their headers (whole packets, none an ERR, at most
   * definitionsLeft); they are not kept in `columns`. Only when inColumnDefinitions.
   */
  countDefinitions(n: number): void {
    this.afterMetadata = false;
    this.seen += n;
    this.lastOfMetadata = this.seen === this.columnCount;
    if (this.lastOfMetadata) this.endDefinitions();
  }

  /** The last finished result announced another one (SERVER_MORE_RESULTS_EXISTS). */
  get moreResults(): boolean {
    return (this.statusFlags & C.SERVER_MORE_RESULTS_EXISTS) !== 0 && this.state === 'first';
  }

  /** Start tracking the response to a command (the COM_* byte the client sent). */
  begin(command: number, opts: BeginOptions = {}): void {
    this.command = command;
    this.cursor = opts.cursor === true;
    this.binary = command === C.COM_STMT_EXECUTE || command === C.COM_STMT_FETCH;
    this.resultsCompleted = 0;
    this.protocolError = null;
    this.prepareOk = null;
    this.resetResult();
    this.state = initialState(command);
  }

  /** Feed a complete logical packet payload. */
  feed(payload: Buffer, start = 0, end = payload.length): ResponsePacketKind {
    return this.classify(payload, start, end, end - start, true);
  }

  /**
   * Feed the first segment of a logical packet (`length` = payload length of its first physical
   * packet). Rows are classified from their first byte; other packets answer 'need-full'.
   */
  feedHead(chunk: Buffer, start: number, end: number, length: number): ResponsePacketKind {
    const whole = end - start === length && length < C.MAX_PACKET_PAYLOAD;
    return this.classify(chunk, start, end, length, whole);
  }

  private classify(
    buf: Buffer,
    start: number,
    end: number,
    length: number,
    whole: boolean,
  ): ResponsePacketKind {
    this.lastOfMetadata = false;
    const pendingAfter = this.metadataJustEnded;
    this.metadataJustEnded = false;
    const kind = this.dispatch(buf, start, end, length, whole);
    if (kind === 'need-full') this.metadataJustEnded = pendingAfter; // the same packet comes again
    this.afterMetadata = kind !== 'need-full' && pendingAfter;
    return kind;
  }

  private dispatch(
    buf: Buffer,
    start: number,
    end: number,
    length: number,
    whole: boolean,
  ): ResponsePacketKind {
    if (start >= end) return this.unexpected('empty packet in a response');
    switch (this.state) {
      case 'first':
        return this.onFirst(buf, start, end, whole);
      case 'columns':
      case 'prepare-params':
      case 'prepare-columns':
      case 'field-list':
        return this.onDefinition(buf, start, end, length, whole);
      case 'metadata-eof':
      case 'prepare-params-eof':
      case 'prepare-columns-eof':
        return this.onMetadataEof(buf, start, end, length, whole);
      case 'rows':
        return this.onRow(buf, start, end, length, whole);
      case 'single':
        return this.onSingle(buf, start, end, length, whole);
      case 'statistics':
        if (!whole) return 'need-full';
        if (buf[start] === C.ERR_HEADER) return this.onErr(buf, start, end);
        this.statistics = buf.toString('utf8', start, end);
        this.state = 'done';
        return 'statistics';
      default:
        return this.unexpected('packet when no response was expected');
    }
  }

  private onFirst(buf: Buffer, start: number, end: number, whole: boolean): ResponsePacketKind {
    if (!whole) return 'need-full';
    if (this.resultsCompleted > 0 || this.localInfileName !== null) this.resetResult();
    const b = buf[start];
    if (b === C.ERR_HEADER) return this.onErr(buf, start, end);
    if (b === C.OK_HEADER) {
      return this.command === C.COM_STMT_PREPARE
        ? this.onPrepareOk(buf, start, end)
        : this.onOk(buf, start, end);
    }
    if (b === C.LOCAL_INFILE_HEADER && this.command === C.COM_QUERY) {
      this.localInfileName = buf.toString('utf8', start + 1, end);
      return 'local-infile'; // the server's OK/ERR follows the client's file data
    }
    const count = peekLenenc(buf, start, end);
    if (count <= 0 || count > 0xffff) {
      return this.unexpected(`invalid first response byte 0x${b.toString(16)}`);
    }
    this.columnCount = count;
    this.seen = 0;
    this.state = 'columns';
    return 'column-count';
  }

  private onDefinition(
    buf: Buffer,
    start: number,
    end: number,
    length: number,
    whole: boolean,
  ): ResponsePacketKind {
    const b = buf[start];
    if (!whole) return 'need-full';
    if (b === C.ERR_HEADER) return this.onErr(buf, start, end);
    if (this.state === 'field-list' && C.EOF_HEADER === b && length < C.MAX_PACKET_PAYLOAD) {
      return this.onTerminator(buf, start, end);
    }
    if (this.state !== 'prepare-params') this.columns.add(buf, start, end);
    this.seen++;
    if (this.state === 'field-list') return 'column-def';
    const isParams = this.state === 'prepare-params';
    const total = isParams ? (this.prepareOk?.paramCount ?? 0) : this.columnCount;
    if (this.seen === total) {
      this.lastOfMetadata = true;
      this.endDefinitions();
    }
    return isParams ? 'param-def' : 'column-def';
  }

  private endDefinitions(): void {
    this.seen = 0;
    this.state = this.afterDefinitions();
    this.metadataJustEnded = this.state === 'rows';
  }

  /** Where a finished definitions section leads. */
  private afterDefinitions(): State {
    switch (this.state) {
      case 'prepare-params':
        if (!this.deprecateEof) return 'prepare-params-eof';
        return this.columnCount > 0 ? 'prepare-columns' : 'done';
      case 'prepare-columns':
        return this.deprecateEof ? 'done' : 'prepare-columns-eof';
      default:
        return this.deprecateEof ? 'rows' : 'metadata-eof';
    }
  }

  private onMetadataEof(
    buf: Buffer,
    start: number,
    end: number,
    length: number,
    whole: boolean,
  ): ResponsePacketKind {
    const b = buf[start];
    if (!whole) return 'need-full';
    if (b === C.ERR_HEADER) return this.onErr(buf, start, end);
    if (b !== C.EOF_HEADER || length >= 9) return this.unexpected('expected an EOF packet after definitions');
    const eof = readEof(buf, start, end, this.capabilities);
    if (eof === null) return this.unexpected('malformed EOF packet');
    this.eof = eof;
    this.statusFlags = eof.statusFlags;
    this.warnings = eof.warnings;
    const state = this.state;
    if (state === 'prepare-params-eof') {
      this.state = this.columnCount > 0 ? 'prepare-columns' : 'done';
      return 'param-eof';
    }
    if (state === 'prepare-columns-eof') this.state = 'done';
    else if (this.cursor && (eof.statusFlags & C.SERVER_STATUS_CURSOR_EXISTS) !== 0) {
      this.resultsCompleted++;
      this.state = 'done'; // rows will come with COM_STMT_FETCH
    } else this.state = 'rows';
    return 'metadata-eof';
  }

  private onRow(buf: Buffer, start: number, end: number, length: number, whole: boolean): ResponsePacketKind {
    const b = buf[start];
    if (b === C.EOF_HEADER && (this.deprecateEof ? length < C.MAX_PACKET_PAYLOAD : length < 9)) {
      return whole ? this.onTerminator(buf, start, end) : 'need-full';
    }
    if (b === C.ERR_HEADER) return whole ? this.onErr(buf, start, end) : 'need-full';
    if (this.binary && b !== C.OK_HEADER)
      return this.unexpected(`binary row starts with 0x${b.toString(16)}`);
    this.rowCount++;
    return 'row';
  }

  private onSingle(
    buf: Buffer,
    start: number,
    end: number,
    length: number,
    whole: boolean,
  ): ResponsePacketKind {
    if (!whole) return 'need-full';
    const b = buf[start];
    if (b === C.ERR_HEADER) return this.onErr(buf, start, end);
    if (b === C.OK_HEADER) return this.onOk(buf, start, end);
    if (b === C.EOF_HEADER && length < C.MAX_PACKET_PAYLOAD) return this.onTerminator(buf, start, end);
    return this.unexpected(`unexpected response byte 0x${b.toString(16)}`);
  }

  /** EOF, or OK with a 0xFE header: a classic EOF is 5 bytes, an OK at least 7. */
  private onTerminator(buf: Buffer, start: number, end: number): ResponsePacketKind {
    if (end - start < 7) {
      const eof = readEof(buf, start, end, this.capabilities);
      if (eof === null) return this.unexpected('malformed EOF packet');
      this.eof = eof;
      this.finishResult(eof.statusFlags, eof.warnings);
      return 'eof';
    }
    return this.onOk(buf, start, end);
  }

  private onOk(buf: Buffer, start: number, end: number): ResponsePacketKind {
    const ok = decodeOk(buf.subarray(start, end), this.capabilities);
    if (!ok.ok) return this.unexpected(ok.error.message);
    this.ok = ok.value;
    this.finishResult(ok.value.statusFlags, ok.value.warnings);
    return 'ok';
  }

  private onErr(buf: Buffer, start: number, end: number): ResponsePacketKind {
    const err = decodeErr(buf.subarray(start, end));
    if (!err.ok) return this.unexpected(err.error.message);
    this.err = err.value;
    this.state = 'done';
    return 'err';
  }

  private onPrepareOk(buf: Buffer, start: number, end: number): ResponsePacketKind {
    const p = decodePrepareOk(buf.subarray(start, end));
    if (!p.ok) return this.unexpected(p.error.message);
    this.prepareOk = p.value;
    this.columnCount = p.value.columnCount;
    this.warnings = p.value.warnings;
    this.seen = 0;
    if (p.value.paramCount > 0) this.state = 'prepare-params';
    else this.state = p.value.columnCount > 0 ? 'prepare-columns' : 'done';
    return 'prepare-ok';
  }

  private finishResult(statusFlags: number, warnings: number): void {
    this.statusFlags = statusFlags;
    this.warnings = warnings;
    this.resultsCompleted++;
    const more = (statusFlags & C.SERVER_MORE_RESULTS_EXISTS) !== 0 && this.state !== 'field-list';
    this.state = more && this.command !== C.COM_STMT_FETCH ? 'first' : 'done';
  }

  private unexpected(message: string): ResponsePacketKind {
    this.protocolError = new MysqlCodecError(
      'DBTAPE_MYSQL_MALFORMED',
      `dbtape: ${message.replace(/^dbtape: /, '')}`,
    );
    this.state = 'done';
    return 'unexpected';
  }

  private resetResult(): void {
    this.columnCount = 0;
    this.rowCount = 0;
    this.ok = null;
    this.eof = null;
    this.err = null;
    this.localInfileName = null;
    this.statistics = null;
    this.seen = 0;
    this.columns.clear();
  }
}
