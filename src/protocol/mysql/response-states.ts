/**
 * What the ResponseTracker reports for each server packet, and the state a response starts in
 * for each command (which commands answer with a resultset, a single OK/ERR/EOF, a bare string
 * (COM_STATISTICS) or nothing at all (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT)).
 */
import * as C from './constants.js';

export type ResponsePacketKind =
  /** OK packet: ends a result (check `moreResults`) or the whole response. Header 0x00, or 0xFE as a DEPRECATE_EOF terminator. */
  | 'ok'
  /** ERR packet: ends the response. */
  | 'err'
  /** Classic EOF ending rows, a field list, or answering COM_SET_OPTION / COM_DEBUG. */
  | 'eof'
  | 'column-count'
  | 'column-def'
  /** Classic EOF after column definitions (also after a prepare's column definitions). */
  | 'metadata-eof'
  | 'row'
  /** 0xFB: the server asks the client for a local file (`localInfileName`). */
  | 'local-infile'
  | 'prepare-ok'
  | 'param-def'
  /** Classic EOF after a prepare's parameter definitions. */
  | 'param-eof'
  /** The COM_STATISTICS answer (`statistics`). */
  | 'statistics'
  /** Feed the whole logical packet (only returned by feedHead). */
  | 'need-full'
  /** Not valid here: `protocolError` says why; the response is considered over. */
  | 'unexpected';

/** Where a ResponseTracker is within a response. */
export type ResponseState =
  | 'idle'
  | 'first'
  | 'columns'
  | 'metadata-eof'
  | 'rows'
  | 'prepare-params'
  | 'prepare-params-eof'
  | 'prepare-columns'
  | 'prepare-columns-eof'
  | 'field-list'
  | 'single'
  | 'statistics'
  | 'done';

/** The state a response to `command` starts in. */
export function initialState(command: number): ResponseState {
  switch (command) {
    case C.COM_QUERY:
    case C.COM_STMT_EXECUTE:
    case C.COM_STMT_PREPARE:
    case C.COM_PROCESS_INFO:
      return 'first';
    case C.COM_STMT_FETCH:
      return 'rows';
    case C.COM_FIELD_LIST:
      return 'field-list';
    case C.COM_STATISTICS:
      return 'statistics';
    case C.COM_STMT_CLOSE:
    case C.COM_STMT_SEND_LONG_DATA:
    case C.COM_QUIT:
      return 'done';
    default:
      return 'single';
  }
}
