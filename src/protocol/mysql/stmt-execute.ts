/**
 * COM_STMT_EXECUTE (MySQL "COM_STMT_EXECUTE"; MariaDB "COM_STMT_EXECUTE"):
 *   0x17, int<4> statement id, int<1> flags (cursor type), int<4> iteration count (1),
 *   [CLIENT_QUERY_ATTRIBUTES and (num_params > 0 or flags & PARAMETER_COUNT_AVAILABLE):
 *    lenenc parameter_count, which may exceed num_params: the rest are query attributes],
 *   then, when the count is > 0, the parameter block (param-block.ts).
 * num_params comes from the statement's COM_STMT_PREPARE_OK; types from this packet or
 * remembered from the last execute that bound them.
 */

import type { QueryAttribute } from './commands.js';
import { CLIENT_QUERY_ATTRIBUTES, COM_STMT_EXECUTE, hasCap, PARAMETER_COUNT_AVAILABLE } from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { type ParamValueOptions, readParamBlock } from './param-block.js';
import { PacketReader } from './reader.js';
import type { PreparedStatement } from './statements.js';

export interface StmtExecute {
  readonly statementId: number;
  /** Cursor type flags (CURSOR_TYPE_*); non-zero asks for a cursor read with COM_STMT_FETCH. */
  readonly flags: number;
  readonly iterationCount: number;
  /** One text value per statement parameter; null for SQL NULL. */
  readonly params: readonly (string | null)[];
  /** MySQL type code per parameter as bound. */
  readonly paramTypes: readonly number[];
  /** Whether this packet carried types (else the remembered ones were used). */
  readonly newParamsBound: boolean;
  /** Query attributes beyond the statement's parameters (MySQL 8 CLIENT_QUERY_ATTRIBUTES). */
  readonly attributes: readonly QueryAttribute[];
}

export interface StmtExecuteOptions extends ParamValueOptions {
  readonly capabilities: number;
}

/** The statement id of a COM_STMT_EXECUTE packet, to look the statement up; null when too short. */
export function peekStatementId(payload: Buffer): number | null {
  return payload.length >= 5 ? payload.readUInt32LE(1) : null;
}

/**
 * Decode a COM_STMT_EXECUTE for `stmt`. Remembers the bound types on `stmt` and consumes its
 * long data (the server forgets it after an execute too). Short NULL bitmaps, truncated values
 * and executes without any known types are typed errors.
 */
export function decodeStmtExecute(
  payload: Buffer,
  stmt: PreparedStatement,
  opts: StmtExecuteOptions,
): Result<StmtExecute> {
  const result = decodeWith(() => readExecute(payload, stmt, opts));
  stmt.clearLongData();
  return result;
}

function readExecute(payload: Buffer, stmt: PreparedStatement, opts: StmtExecuteOptions): StmtExecute {
  const r = new PacketReader(payload);
  if (r.u8('command') !== COM_STMT_EXECUTE) {
    throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: not a COM_STMT_EXECUTE packet');
  }
  const statementId = r.u32('statement id');
  const flags = r.u8('flags');
  const iterationCount = r.u32('iteration count');
  let count = stmt.paramCount;
  const attrs = hasCap(opts.capabilities, CLIENT_QUERY_ATTRIBUTES);
  if (attrs && (count > 0 || (flags & PARAMETER_COUNT_AVAILABLE) !== 0))
    count = r.lenencInt('parameter_count');
  if (count < stmt.paramCount) {
    throw new MysqlCodecError(
      'DBTAPE_MYSQL_MALFORMED',
      `dbtape: execute sends ${count} parameter(s), the statement has ${stmt.paramCount}`,
    );
  }
  if (count === 0) {
    return {
      statementId,
      flags,
      iterationCount,
      params: [],
      paramTypes: [],
      newParamsBound: false,
      attributes: [],
    };
  }
  const remembered =
    stmt.paramTypes !== null && stmt.paramTypes.length === count * 2 ? stmt.paramTypes : null;
  const block = readParamBlock(r, count, remembered, attrs, opts, (i) =>
    i < stmt.paramCount ? stmt.longDataText(i) : undefined,
  );
  if (block.newParamsBound) stmt.paramTypes = block.types;
  const n = stmt.paramCount;
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(block.types[i * 2]);
  const attributes: QueryAttribute[] = [];
  for (let i = n; i < count; i++) {
    attributes.push({ name: block.names[i], type: block.types[i * 2], value: block.values[i] });
  }
  return {
    statementId,
    flags,
    iterationCount,
    params: block.values.slice(0, n),
    paramTypes,
    newParamsBound: block.newParamsBound,
    attributes,
  };
}
