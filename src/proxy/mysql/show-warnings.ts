import {
  type ColumnType,
  ER_UNKNOWN_ERROR,
  encodeTextRow,
  isLenencBinaryType,
  MYSQL_TYPE_INT24,
  MYSQL_TYPE_LONG,
  MYSQL_TYPE_LONGLONG,
  MYSQL_TYPE_SHORT,
  MYSQL_TYPE_TINY,
  PACKET_HEADER_SIZE,
  PacketWriter,
} from '../../protocol/mysql/index.js';

/**
 * `SHOW WARNINGS` and the row dbtape adds to it for a result it cut (policy-results.ts says when).
 * The server's list is Level, Code, Message.
 */

/** `show` as a big-endian 32-bit word, lower case. */
const SHOW = 0x73686f77;

/** The longest COM_QUERY / COM_STMT_PREPARE payload read as `SHOW WARNINGS` (blanks around it included). */
const LONGEST = 64;

/**
 * Whether a COM_QUERY or COM_STMT_PREPARE payload is `SHOW WARNINGS` (any case, blanks around it, a
 * trailing `;`), as the mysql client's `\W` and drivers send it. `SHOW WARNINGS LIMIT ...` and
 * `SHOW COUNT(*) WARNINGS` are not: dbtape adds its own warning to the plain list only.
 */
export function isShowWarnings(payload: Buffer): boolean {
  if (payload.length < 14 || payload.length > LONGEST) return false;
  // Every other text is told apart by its first word, before any decoding (SELECTs start with S too).
  let i = 1;
  while (i < payload.length && (payload[i] === 0x20 || (payload[i]! >= 0x09 && payload[i]! <= 0x0d))) i++;
  if (i + 4 > payload.length || (payload.readUInt32BE(i) | 0x20202020) !== SHOW) return false;
  return /^\s*show\s+warnings\s*;?\s*$/i.test(payload.toString('latin1', 1));
}

/**
 * dbtape's warning as a row payload of the SHOW WARNINGS result being answered: a text row, or a
 * binary row (a prepared SHOW WARNINGS) laid out by the result's column types; null when those are
 * not the three columns expected.
 */
export function warningRow(
  message: string,
  binary: boolean,
  types: readonly ColumnType[] | null,
): Buffer | null {
  const code = ER_UNKNOWN_ERROR.errno;
  if (!binary) return encodeTextRow(['Warning', String(code), message], 0).subarray(PACKET_HEADER_SIZE);
  const w = new PacketWriter(64 + message.length * 3);
  if (types?.length !== 3 || !isLenencBinaryType(types[0]!.type) || !isLenencBinaryType(types[2]!.type))
    return null;
  // Packet header 0x00, then the NULL bitmap ((3 + 7 + 2) / 8 = 1 byte): no NULLs.
  w.u8(0).u8(0).lenencString('Warning');
  switch (types[1]!.type) {
    case MYSQL_TYPE_TINY:
      w.u8(code & 0xff);
      break;
    case MYSQL_TYPE_SHORT:
      w.u16(code);
      break;
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
      w.u32(code);
      break;
    case MYSQL_TYPE_LONGLONG:
      w.u64(BigInt(code));
      break;
    default:
      if (!isLenencBinaryType(types[1]!.type)) return null;
      w.lenencString(String(code));
  }
  return w.lenencString(message).payload();
}
