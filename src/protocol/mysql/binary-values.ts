/**
 * Binary protocol values (MySQL "Binary Protocol Value"; MariaDB "Binary protocol result set
 * row"), used by COM_STMT_EXECUTE parameters and binary resultset rows, rendered as the text
 * the mysql client would show, for recordings:
 *   TINY 1 byte, SHORT/YEAR 2, LONG/INT24 4, LONGLONG 8 (signedness from the unsigned flag),
 *   FLOAT 4, DOUBLE 8, DATE/DATETIME/TIMESTAMP int<1> length (0/4/7/11) + fields,
 *   TIME int<1> length (0/8/12) + fields, everything else a lenenc string.
 */
import { isUtf8 } from 'node:buffer';
import * as T from './constants.js';
import { MysqlCodecError } from './errors.js';
import { lenencPrefixSize, peekLenenc } from './lenenc.js';
import type { PacketReader } from './reader.js';

/** How a string value's bytes become text. */
export type TextEncoding = 'utf8' | 'latin1' | 'binary';

const LATIN1_COLLATIONS = new Set([5, 8, 15, 31, 47, 48, 49, 94]);

export function isLatin1Collation(collation: number): boolean {
  return LATIN1_COLLATIONS.has(collation);
}

/** Decoding for a column collation id: binary (63) is shown as hex, latin1 as latin1, the rest as UTF-8. */
export function encodingForCharset(charset: number): TextEncoding {
  if (charset === T.CHARSET_BINARY) return 'binary';
  return LATIN1_COLLATIONS.has(charset) ? 'latin1' : 'utf8';
}

/**
 * Text of a string value: binary as 0x-hex; UTF-8 that is not valid UTF-8 also as hex, so
 * a recording never holds mangled replacement characters.
 */
export function bytesToText(b: Uint8Array, encoding: TextEncoding): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
  if (encoding === 'latin1') return buf.toString('latin1');
  if (encoding === 'utf8' && isUtf8(buf)) return buf.toString('utf8');
  return `0x${buf.toString('hex')}`;
}

/** Types whose values are strings of bytes in either protocol (charset decides text vs binary). */
export function isStringType(type: number): boolean {
  switch (type) {
    case T.MYSQL_TYPE_VARCHAR:
    case T.MYSQL_TYPE_VAR_STRING:
    case T.MYSQL_TYPE_STRING:
    case T.MYSQL_TYPE_TINY_BLOB:
    case T.MYSQL_TYPE_MEDIUM_BLOB:
    case T.MYSQL_TYPE_LONG_BLOB:
    case T.MYSQL_TYPE_BLOB:
    case T.MYSQL_TYPE_GEOMETRY:
    case T.MYSQL_TYPE_BIT:
    case T.MYSQL_TYPE_VECTOR:
      return true;
    default:
      return false;
  }
}

/**
 * Text encoding of a column's values: string types follow the collation (binary shown as hex);
 * numbers and temporals are ASCII in the text protocol whatever the collation says (63).
 */
export function columnEncoding(c: { readonly type: number; readonly charset: number }): TextEncoding {
  return isStringType(c.type) ? encodingForCharset(c.charset) : 'utf8';
}

/** Shortest decimal text that reads back as the same float32, as MySQL prints FLOAT. */
export function float32ToString(f: number): string {
  if (!Number.isFinite(f)) return String(f);
  for (let p = 1; p <= 9; p++) {
    const n = Number(f.toPrecision(p));
    if (Math.fround(n) === f) return String(n);
  }
  return String(f);
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad4 = (n: number) => String(n).padStart(4, '0');

function fraction(micros: number, decimals: number | undefined): string {
  const digits = decimals !== undefined && decimals > 0 && decimals <= 6 ? decimals : micros > 0 ? 6 : 0;
  return digits === 0 ? '' : `.${String(micros).padStart(6, '0').slice(0, digits)}`;
}

function readDateTime(r: PacketReader, dateOnly: boolean, decimals?: number): string {
  const len = r.u8('date length');
  if (len !== 0 && len !== 4 && len !== 7 && len !== 11) {
    throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', `dbtape: invalid DATE/DATETIME length ${len}`);
  }
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  let us = 0;
  if (len >= 4) {
    y = r.u16('year');
    mo = r.u8('month');
    d = r.u8('day');
  }
  if (len >= 7) {
    h = r.u8('hour');
    mi = r.u8('minute');
    s = r.u8('second');
  }
  if (len === 11) us = r.u32('microseconds');
  const date = `${pad4(y)}-${pad2(mo)}-${pad2(d)}`;
  if (dateOnly) return date;
  return `${date} ${pad2(h)}:${pad2(mi)}:${pad2(s)}${fraction(us, decimals)}`;
}

function readTime(r: PacketReader, decimals?: number): string {
  const len = r.u8('time length');
  if (len !== 0 && len !== 8 && len !== 12) {
    throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', `dbtape: invalid TIME length ${len}`);
  }
  if (len === 0) return `00:00:00${fraction(0, decimals)}`;
  const negative = r.u8('is_negative') === 1;
  const days = r.u32('days');
  const h = r.u8('hour');
  const mi = r.u8('minute');
  const s = r.u8('second');
  const us = len === 12 ? r.u32('microseconds') : 0;
  return `${negative ? '-' : ''}${pad2(days * 24 + h)}:${pad2(mi)}:${pad2(s)}${fraction(us, decimals)}`;
}

export interface ValueFormat {
  readonly unsigned: boolean;
  /** How string bytes become text; 'auto' (parameters: no charset known) tries UTF-8, else hex. */
  readonly encoding: TextEncoding | 'auto';
  /** Fractional-second digits for temporal types, when the column says. */
  readonly decimals?: number;
  /** Longer string values are cut to this many bytes, with a marker saying the full size. */
  readonly maxBytes?: number;
}

/** bytesToText of at most `maxBytes` bytes; a longer value ends with a marker giving its real size. */
export function renderBytes(b: Buffer, encoding: TextEncoding, maxBytes = Number.POSITIVE_INFINITY): string {
  if (b.length <= maxBytes) return bytesToText(b, encoding);
  const head = b.subarray(0, maxBytes);
  const cut = encoding === 'utf8' ? head.subarray(0, utf8Prefix(head)) : head;
  return `${bytesToText(cut, encoding)}... [truncated, ${b.length} bytes]`;
}

/**
 * The length of `b` without a UTF-8 sequence cut at its end, so that a text value cut there does
 * not turn into hex. A sequence is at most 4 bytes: bytes that are not UTF-8 (a BLOB of 0x80-0xBF
 * bytes) keep their length rather than losing the whole value.
 */
export function utf8Prefix(b: Uint8Array): number {
  for (let back = 1; back <= 4 && back <= b.length; back++) {
    const byte = b[b.length - back];
    if ((byte & 0xc0) === 0x80) continue;
    const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return size > back ? b.length - back : b.length;
  }
  return b.length;
}

/** Read one binary-protocol value at the reader's position and render it as text. */
export function readBinaryValue(r: PacketReader, type: number, fmt: ValueFormat): string | null {
  switch (type) {
    case T.MYSQL_TYPE_NULL:
      return null;
    case T.MYSQL_TYPE_TINY:
    case T.MYSQL_TYPE_BOOL: {
      const v = r.u8('TINY');
      return String(fmt.unsigned ? v : (v << 24) >> 24);
    }
    case T.MYSQL_TYPE_SHORT:
    case T.MYSQL_TYPE_YEAR: {
      const v = r.u16('SHORT');
      return String(fmt.unsigned || type === T.MYSQL_TYPE_YEAR ? v : (v << 16) >> 16);
    }
    case T.MYSQL_TYPE_LONG:
    case T.MYSQL_TYPE_INT24: {
      const v = r.u32('LONG');
      return String(fmt.unsigned ? v : v | 0);
    }
    case T.MYSQL_TYPE_LONGLONG: {
      const v = r.u64('LONGLONG');
      return String(fmt.unsigned ? v : BigInt.asIntN(64, v));
    }
    case T.MYSQL_TYPE_FLOAT:
      return float32ToString(r.bytes(4, 'FLOAT').readFloatLE(0));
    case T.MYSQL_TYPE_DOUBLE:
      return String(r.bytes(8, 'DOUBLE').readDoubleLE(0));
    case T.MYSQL_TYPE_DATE:
    case T.MYSQL_TYPE_NEWDATE:
      return readDateTime(r, true);
    case T.MYSQL_TYPE_DATETIME:
    case T.MYSQL_TYPE_TIMESTAMP:
    case T.MYSQL_TYPE_DATETIME2:
    case T.MYSQL_TYPE_TIMESTAMP2:
      return readDateTime(r, false, fmt.decimals);
    case T.MYSQL_TYPE_TIME:
    case T.MYSQL_TYPE_TIME2:
      return readTime(r, fmt.decimals);
    case T.MYSQL_TYPE_DECIMAL:
    case T.MYSQL_TYPE_NEWDECIMAL:
    case T.MYSQL_TYPE_JSON:
    case T.MYSQL_TYPE_ENUM:
    case T.MYSQL_TYPE_SET:
      return r.lenencString(T.typeName(type));
    default:
      if (!isStringType(type)) {
        throw new MysqlCodecError(
          'DBTAPE_MYSQL_UNSUPPORTED',
          `dbtape: unknown binary value type 0x${type.toString(16)}`,
        );
      }
      return renderBytes(
        r.lenencBytes(T.typeName(type)),
        fmt.encoding === 'auto' ? 'utf8' : fmt.encoding,
        fmt.maxBytes,
      );
  }
}

/** Fixed byte size of a binary value of `type`, or -1 when it is length-prefixed. */
function fixedSize(type: number): number {
  switch (type) {
    case T.MYSQL_TYPE_NULL:
      return 0;
    case T.MYSQL_TYPE_TINY:
    case T.MYSQL_TYPE_BOOL:
      return 1;
    case T.MYSQL_TYPE_SHORT:
    case T.MYSQL_TYPE_YEAR:
      return 2;
    case T.MYSQL_TYPE_LONG:
    case T.MYSQL_TYPE_INT24:
    case T.MYSQL_TYPE_FLOAT:
      return 4;
    case T.MYSQL_TYPE_LONGLONG:
    case T.MYSQL_TYPE_DOUBLE:
      return 8;
    default:
      return -1;
  }
}

function isTemporal(type: number): boolean {
  switch (type) {
    case T.MYSQL_TYPE_DATE:
    case T.MYSQL_TYPE_NEWDATE:
    case T.MYSQL_TYPE_DATETIME:
    case T.MYSQL_TYPE_TIMESTAMP:
    case T.MYSQL_TYPE_DATETIME2:
    case T.MYSQL_TYPE_TIMESTAMP2:
    case T.MYSQL_TYPE_TIME:
    case T.MYSQL_TYPE_TIME2:
      return true;
    default:
      return false;
  }
}

/** Binary values of this type are lenenc strings (rewritable by masking), not fixed-size or temporal. */
export function isLenencBinaryType(type: number): boolean {
  return fixedSize(type) < 0 && !isTemporal(type);
}

/**
 * Offset just past the binary value of `type` at `pos`, without decoding it; -1 when it runs
 * past `end` or its length prefix is invalid. For walking rows (masking, skipping columns).
 */
export function skipBinaryValue(buf: Uint8Array, pos: number, end: number, type: number): number {
  const fixed = fixedSize(type);
  let next: number;
  if (fixed >= 0) next = pos + fixed;
  else if (isTemporal(type)) next = pos < end ? pos + 1 + buf[pos] : -1;
  else {
    const len = peekLenenc(buf, pos, end);
    if (len < 0) return -1; // NULL never appears inside a binary row: nulls are in the bitmap
    next = pos + lenencPrefixSize(buf[pos]) + len;
  }
  return next < 0 || next > end ? -1 : next;
}
