/**
 * Resultset rows (MySQL "Text Resultset Row", "Binary Protocol Resultset Row"):
 *   text:   per column a lenenc string, or 0xFB for NULL.
 *   binary: 0x00, a NULL bitmap of (columns + 7 + 2) / 8 bytes whose first two bits are unused,
 *           then the non-NULL values in binary protocol form.
 * Decoding to text is for capture_results=rows; `scan*Row` locate each field without
 * decoding, and `rewriteRowFields` rebuilds a row with some values replaced (masking), with
 * every length prefix fixed up.
 */
import {
  columnEncoding,
  isLenencBinaryType,
  readBinaryValue,
  renderBytes,
  skipBinaryValue,
  type TextEncoding,
} from './binary-values.js';
import { type ColumnType, isUnsignedColumn } from './column-definition.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import {
  LENENC_NULL,
  lenencIntLength,
  lenencPrefixSize,
  peekLenenc,
  skipLenencString,
  writeLenencInt,
} from './lenenc.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export type RowValues = (string | null)[];

export interface RowDecodeOptions {
  /** Cut string values longer than this many bytes (see renderBytes). */
  readonly maxValueBytes?: number;
}

/** Decode a text row: `encodings` from ColumnStore.encodings() (binary columns become 0x-hex). */
export function decodeTextRow(
  payload: Buffer,
  encodings: readonly TextEncoding[],
  opts: RowDecodeOptions = {},
  start = 0,
  end = payload.length,
): Result<RowValues> {
  return decodeWith(() => {
    const r = new PacketReader(payload, start, end);
    const out: RowValues = new Array(encodings.length);
    for (let i = 0; i < encodings.length; i++) {
      if (r.peekU8() === 0xfb) {
        r.pos++;
        out[i] = null;
      } else out[i] = renderBytes(r.lenencBytes(`column ${i}`), encodings[i], opts.maxValueBytes);
    }
    if (!r.atEnd()) throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: text row has extra bytes');
    return out;
  });
}

/** Size of a binary row's NULL bitmap for `columns` columns (2-bit offset). */
export function binaryNullBitmapSize(columns: number): number {
  return (columns + 7 + 2) >> 3;
}

function isNullAt(bitmap: Uint8Array, at: number, i: number): boolean {
  const bit = i + 2;
  return (bitmap[at + (bit >> 3)] & (1 << (bit & 7))) !== 0;
}

export function decodeBinaryRow(
  payload: Buffer,
  columns: readonly ColumnType[],
  opts: RowDecodeOptions = {},
  start = 0,
  end = payload.length,
): Result<RowValues> {
  return decodeWith(() => {
    const r = new PacketReader(payload, start, end);
    if (r.u8('row header') !== 0x00)
      throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: not a binary row');
    const bitmapAt = r.pos;
    r.skip(binaryNullBitmapSize(columns.length), 'NULL bitmap');
    const out: RowValues = new Array(columns.length);
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i];
      out[i] = isNullAt(payload, bitmapAt, i)
        ? null
        : readBinaryValue(r, c.type, {
            unsigned: isUnsignedColumn(c),
            encoding: columnEncoding(c),
            decimals: c.decimals,
            maxBytes: opts.maxValueBytes,
          });
    }
    return out;
  });
}

/** Where each field of a row lies; reusable across rows of a result. */
export interface RowFields {
  /** Offset of the field's first byte (its length prefix, if any). -1 for NULL in a binary row. */
  readonly fieldStart: Int32Array;
  /** Offset of the value's data after any length prefix; -1 for NULL. */
  readonly dataStart: Int32Array;
  readonly fieldEnd: Int32Array;
  /** 1 when the field is a lenenc string (rewritable), 0 for fixed-size binary values and NULL. */
  readonly lenenc: Uint8Array;
}

export function newRowFields(columns: number): RowFields {
  return {
    fieldStart: new Int32Array(columns),
    dataStart: new Int32Array(columns),
    fieldEnd: new Int32Array(columns),
    lenenc: new Uint8Array(columns),
  };
}

/** Locate the fields of a text row; false when the row is malformed or has a different column count. */
export function scanTextRow(payload: Uint8Array, out: RowFields, start = 0, end = payload.length): boolean {
  let pos = start;
  for (let i = 0; i < out.fieldStart.length; i++) {
    const len = peekLenenc(payload, pos, end);
    const next = skipLenencString(payload, pos, end);
    if (next < 0) return false;
    out.fieldStart[i] = pos;
    out.dataStart[i] = len === LENENC_NULL ? -1 : pos + lenencPrefixSize(payload[pos]);
    out.fieldEnd[i] = next;
    out.lenenc[i] = len === LENENC_NULL ? 0 : 1;
    pos = next;
  }
  return pos === end;
}

/** Locate the fields of a binary row; false when malformed. */
export function scanBinaryRow(
  payload: Uint8Array,
  columns: readonly ColumnType[],
  out: RowFields,
  start = 0,
  end = payload.length,
): boolean {
  if (end - start < 1 + binaryNullBitmapSize(columns.length) || payload[start] !== 0x00) return false;
  const bitmapAt = start + 1;
  let pos = bitmapAt + binaryNullBitmapSize(columns.length);
  for (let i = 0; i < columns.length; i++) {
    if (isNullAt(payload, bitmapAt, i)) {
      out.fieldStart[i] = out.dataStart[i] = out.fieldEnd[i] = -1;
      out.lenenc[i] = 0;
      continue;
    }
    const next = skipBinaryValue(payload, pos, end, columns[i].type);
    if (next < 0) return false;
    const isLenenc = isLenencBinaryType(columns[i].type);
    out.fieldStart[i] = pos;
    out.dataStart[i] = isLenenc ? pos + lenencPrefixSize(payload[pos]) : pos;
    out.fieldEnd[i] = next;
    out.lenenc[i] = isLenenc ? 1 : 0;
    pos = next;
  }
  return pos === end;
}

/**
 * A new row payload with the values of some lenenc fields replaced (text rows, or string columns
 * of binary rows). Fields not in `replacements` are copied as they are.
 */
export function rewriteRowFields(
  payload: Uint8Array,
  fields: RowFields,
  replacements: ReadonlyMap<number, Uint8Array>,
  start = 0,
  end = payload.length,
): Buffer {
  let size = end - start;
  for (const [i, value] of replacements) {
    if (fields.lenenc[i] !== 1) throw new RangeError(`dbtape: column ${i} is not a rewritable string field`);
    size += lenencIntLength(value.length) + value.length - (fields.fieldEnd[i] - fields.fieldStart[i]);
  }
  const out = Buffer.allocUnsafe(size);
  let src = start;
  let dst = 0;
  const order = [...replacements.keys()].sort((a, b) => a - b);
  for (const i of order) {
    const value = replacements.get(i) as Uint8Array;
    out.set(payload.subarray(src, fields.fieldStart[i]), dst);
    dst += fields.fieldStart[i] - src;
    dst = writeLenencInt(out, dst, value.length);
    out.set(value, dst);
    dst += value.length;
    src = fields.fieldEnd[i];
  }
  out.set(payload.subarray(src, end), dst);
  return out;
}

/** Encode a text row (values as UTF-8 text or raw bytes; null for NULL). */
export function encodeTextRow(values: readonly (string | Uint8Array | null)[], seq: number): Buffer {
  const w = new PacketWriter(64);
  for (const v of values) {
    if (v === null) w.u8(0xfb);
    else w.lenencString(v);
  }
  return w.packet(seq);
}
