/**
 * Client commands the proxy inspects (MySQL "Command Phase"; MariaDB "Text protocol" and
 * "Binary protocol (prepared statements)"). A command is one logical packet whose first byte
 * is the COM_* code. COM_STMT_EXECUTE needs the statement's parameter count and remembered
 * types, so it has its own decoder in stmt-execute.ts; here it is only identified.
 */
import { clientText } from './client-text.js';
import * as C from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { type ParamValueOptions, readParamBlock } from './param-block.js';
import { PacketReader } from './reader.js';

export interface QueryAttribute {
  readonly name: string;
  readonly type: number;
  readonly value: string | null;
}

export type ClientCommand =
  | { readonly name: 'COM_QUERY'; readonly sql: string; readonly attributes: readonly QueryAttribute[] }
  | { readonly name: 'COM_STMT_PREPARE'; readonly sql: string }
  | { readonly name: 'COM_STMT_EXECUTE'; readonly statementId: number }
  | {
      readonly name: 'COM_STMT_SEND_LONG_DATA';
      readonly statementId: number;
      readonly paramId: number;
      /** A view into the payload. */
      readonly data: Buffer;
    }
  | { readonly name: 'COM_STMT_CLOSE'; readonly statementId: number }
  | { readonly name: 'COM_STMT_RESET'; readonly statementId: number }
  | { readonly name: 'COM_STMT_FETCH'; readonly statementId: number; readonly numRows: number }
  | { readonly name: 'COM_INIT_DB'; readonly schema: string }
  | { readonly name: 'COM_FIELD_LIST'; readonly table: string; readonly wildcard: string }
  | { readonly name: 'COM_SET_OPTION'; readonly option: number }
  | { readonly name: 'COM_PROCESS_KILL'; readonly connectionId: number }
  | { readonly name: 'COM_CHANGE_USER'; readonly username: string | null }
  | { readonly name: 'COM_QUIT' }
  | { readonly name: 'COM_PING' }
  | { readonly name: 'COM_STATISTICS' }
  | { readonly name: 'COM_RESET_CONNECTION' }
  | { readonly name: 'COM_DEBUG' }
  /** A byte the codec does not decode: another real command (COM_BINLOG_DUMP...) or garbage. */
  | { readonly name: 'unknown'; readonly code: number; readonly label: string };

export type ClientCommandName = ClientCommand['name'];

export interface CommandOptions extends ParamValueOptions {
  /** Negotiated client capabilities (CLIENT_QUERY_ATTRIBUTES changes COM_QUERY's layout). */
  readonly capabilities: number;
  /** The client's handshake chose a latin1 collation (client-text.ts). */
  readonly latin1Client?: boolean;
}

/**
 * COM_QUERY (MySQL "COM_QUERY"): 0x03, then with CLIENT_QUERY_ATTRIBUTES:
 * lenenc parameter_count, lenenc parameter_set_count (1), and when count > 0 a NULL bitmap,
 * new_params_bind_flag, per parameter int<2> type + lenenc name, then the values; then the
 * statement as string<EOF>.
 */
function readQuery(r: PacketReader, opts: CommandOptions): ClientCommand {
  let attributes: QueryAttribute[] = [];
  if (C.hasCap(opts.capabilities, C.CLIENT_QUERY_ATTRIBUTES)) {
    const count = r.lenencInt('parameter_count');
    r.lenencInt('parameter_set_count');
    if (count > 0) {
      const block = readParamBlock(r, count, null, true, opts);
      attributes = block.values.map((value, i) => ({
        name: block.names[i],
        type: block.types[i * 2],
        value,
      }));
    }
  }
  return { name: 'COM_QUERY', sql: clientText(r.restBytes(), opts.latin1Client ?? false), attributes };
}

function readCommand(r: PacketReader, code: number, opts: CommandOptions): ClientCommand {
  switch (code) {
    case C.COM_QUERY:
      return readQuery(r, opts);
    case C.COM_STMT_PREPARE:
      return { name: 'COM_STMT_PREPARE', sql: clientText(r.restBytes(), opts.latin1Client ?? false) };
    case C.COM_STMT_EXECUTE:
      return { name: 'COM_STMT_EXECUTE', statementId: r.u32('statement id') };
    case C.COM_STMT_SEND_LONG_DATA: {
      const statementId = r.u32('statement id');
      const paramId = r.u16('param id');
      return { name: 'COM_STMT_SEND_LONG_DATA', statementId, paramId, data: r.restBytes() };
    }
    case C.COM_STMT_CLOSE:
      return { name: 'COM_STMT_CLOSE', statementId: r.u32('statement id') };
    case C.COM_STMT_RESET:
      return { name: 'COM_STMT_RESET', statementId: r.u32('statement id') };
    case C.COM_STMT_FETCH: {
      const statementId = r.u32('statement id');
      return { name: 'COM_STMT_FETCH', statementId, numRows: r.u32('num rows') };
    }
    case C.COM_INIT_DB:
      return { name: 'COM_INIT_DB', schema: r.restString() };
    case C.COM_FIELD_LIST: {
      const table = r.nulString('table');
      return { name: 'COM_FIELD_LIST', table, wildcard: r.restString() };
    }
    case C.COM_SET_OPTION:
      return { name: 'COM_SET_OPTION', option: r.u16('option') };
    case C.COM_PROCESS_KILL:
      return { name: 'COM_PROCESS_KILL', connectionId: r.u32('connection id') };
    case C.COM_CHANGE_USER:
      // Identified only: the proxy refuses it, the username is for the recording.
      return { name: 'COM_CHANGE_USER', username: r.optionalNulString() };
    case C.COM_QUIT:
      return { name: 'COM_QUIT' };
    case C.COM_PING:
      return { name: 'COM_PING' };
    case C.COM_STATISTICS:
      return { name: 'COM_STATISTICS' };
    case C.COM_RESET_CONNECTION:
      return { name: 'COM_RESET_CONNECTION' };
    case C.COM_DEBUG:
      return { name: 'COM_DEBUG' };
    default:
      return { name: 'unknown', code, label: C.commandName(code) };
  }
}

/** Decode a client command packet. An empty packet is DBTAPE_MYSQL_MALFORMED. */
export function decodeCommand(payload: Buffer, opts: CommandOptions): Result<ClientCommand> {
  return decodeWith(() => {
    if (payload.length === 0) {
      throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: empty command packet');
    }
    const r = new PacketReader(payload, 1);
    return readCommand(r, payload[0], opts);
  });
}
