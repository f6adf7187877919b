/**
 * Prepared statements as the proxy tracks them per session: COM_STMT_PREPARE_OK
 * (MySQL "COM_STMT_PREPARE Response": 0x00, int<4> statement id, int<2> num columns,
 * int<2> num params, int<1> reserved, int<2> warning count), the parameter types the last
 * execute bound (a later execute may omit them), and data sent with COM_STMT_SEND_LONG_DATA.
 */

import { bytesToText, utf8Prefix } from './binary-values.js';
import { OK_HEADER } from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export interface PrepareOk {
  readonly statementId: number;
  readonly columnCount: number;
  readonly paramCount: number;
  readonly warnings: number;
}

export function decodePrepareOk(payload: Buffer): Result<PrepareOk> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    if (r.u8('header') !== OK_HEADER) {
      throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: not a COM_STMT_PREPARE_OK packet');
    }
    const statementId = r.u32('statement id');
    const columnCount = r.u16('num columns');
    const paramCount = r.u16('num params');
    // Reserved byte and warning count are absent from some old servers' replies.
    let warnings = 0;
    if (r.remaining >= 3) {
      r.skip(1, 'reserved');
      warnings = r.u16('warning count');
    }
    return { statementId, columnCount, paramCount, warnings };
  });
}

export function encodePrepareOk(p: PrepareOk, seq: number): Buffer {
  return new PacketWriter(16)
    .u8(OK_HEADER)
    .u32(p.statementId)
    .u16(p.columnCount)
    .u16(p.paramCount)
    .u8(0)
    .u16(p.warnings)
    .packet(seq);
}

/** MariaDB: statement id -1 in COM_STMT_EXECUTE means "the statement prepared last" (pipelining). */
export const LAST_PREPARED_STATEMENT_ID = 0xffffffff;

/** Long data kept per parameter for the recording; the upstream gets all of it regardless. */
const DEFAULT_LONG_DATA_LIMIT = 64 * 1024;

export class PreparedStatement {
  readonly id: number;
  readonly sql: string;
  readonly paramCount: number;
  readonly columnCount: number;
  /** Type/flag pairs bound by the last execute that sent them. */
  paramTypes: Uint8Array | null = null;
  private readonly longData = new Map<number, { parts: Buffer[]; kept: number; total: number }>();
  private readonly longDataLimit: number;

  constructor(ok: PrepareOk, sql: string, longDataLimit = DEFAULT_LONG_DATA_LIMIT) {
    this.id = ok.statementId;
    this.sql = sql;
    this.paramCount = ok.paramCount;
    this.columnCount = ok.columnCount;
    this.longDataLimit = longDataLimit;
  }

  /**
   * Record a COM_STMT_SEND_LONG_DATA chunk (copied, up to the limit). `size`: the chunk's full
   * size when `data` is only its start (a packet too big to hold, streamed through).
   */
  addLongData(paramId: number, data: Buffer, size = data.length): void {
    let entry = this.longData.get(paramId);
    if (entry === undefined) {
      entry = { parts: [], kept: 0, total: 0 };
      this.longData.set(paramId, entry);
    }
    const room = this.longDataLimit - entry.kept;
    if (room > 0) {
      const part = Buffer.from(data.subarray(0, room));
      entry.parts.push(part);
      entry.kept += part.length;
    }
    entry.total += size;
  }

  /** Text of a long-data parameter, or undefined when none was sent for it. */
  longDataText(index: number): string | undefined {
    const entry = this.longData.get(index);
    if (entry === undefined) return undefined;
    const kept = Buffer.concat(entry.parts, entry.kept);
    if (entry.total <= entry.kept) return bytesToText(kept, 'utf8');
    return `${bytesToText(kept.subarray(0, utf8Prefix(kept)), 'utf8')}... [truncated, ${entry.total} bytes]`;
  }

  get hasLongData(): boolean {
    return this.longData.size > 0;
  }

  /** After an execute, and on COM_STMT_RESET, the server forgets long data: so do we. */
  clearLongData(): void {
    this.longData.clear();
  }
}

/** The statements of one session, by id. */
export class StatementRegistry {
  private readonly byId = new Map<number, PreparedStatement>();
  private last: PreparedStatement | null = null;

  add(ok: PrepareOk, sql: string, longDataLimit?: number): PreparedStatement {
    const stmt = new PreparedStatement(ok, sql, longDataLimit);
    this.byId.set(stmt.id, stmt);
    this.last = stmt;
    return stmt;
  }

  /** The statement for an id from COM_STMT_*; resolves MariaDB's -1. Undefined when unknown. */
  get(id: number): PreparedStatement | undefined {
    if (id === LAST_PREPARED_STATEMENT_ID) return this.last ?? undefined;
    return this.byId.get(id);
  }

  delete(id: number): void {
    const stmt = this.get(id);
    if (stmt === undefined) return;
    this.byId.delete(stmt.id);
    if (this.last === stmt) this.last = null;
  }

  /** COM_RESET_CONNECTION and COM_CHANGE_USER drop every statement. */
  clear(): void {
    this.byId.clear();
    this.last = null;
  }

  get size(): number {
    return this.byId.size;
  }
}
