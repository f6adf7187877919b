/**
 * Length-encoded integers (MySQL "Protocol::LengthEncodedInteger"):
 *   < 0xFB: the value itself; 0xFC + 2 bytes; 0xFD + 3 bytes; 0xFE + 8 bytes (all little endian).
 *   0xFB means NULL in resultset rows; 0xFF is never a valid prefix (it is the ERR header).
 * The non-throwing readers here return negative sentinels so hot-path callers need no try/catch.
 */

/** The value is SQL NULL (0xFB prefix). */
export const LENENC_NULL = -1;
/** The prefix or its value bytes run past `end`. */
export const LENENC_TRUNCATED = -2;
/** 0xFF prefix, or an 8-byte value above Number.MAX_SAFE_INTEGER (no packet is that long). */
export const LENENC_INVALID = -3;

/** Bytes taken by a lenenc integer whose first byte is `first` (prefix included). */
export function lenencPrefixSize(first: number): number {
  if (first < 0xfb) return 1;
  if (first === 0xfc) return 3;
  if (first === 0xfd) return 4;
  if (first === 0xfe) return 9;
  return 1; // 0xFB (NULL) and 0xFF (invalid) are single bytes
}

/**
 * Value of the lenenc integer at `pos`, or LENENC_NULL / LENENC_TRUNCATED / LENENC_INVALID.
 * The caller advances by `lenencPrefixSize(buf[pos])`.
 */
export function peekLenenc(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return LENENC_TRUNCATED;
  const first = buf[pos];
  if (first < 0xfb) return first;
  if (first === 0xfb) return LENENC_NULL;
  if (first === 0xff) return LENENC_INVALID;
  const size = lenencPrefixSize(first);
  if (pos + size > end) return LENENC_TRUNCATED;
  if (first === 0xfc) return buf[pos + 1] | (buf[pos + 2] << 8);
  if (first === 0xfd) return buf[pos + 1] | (buf[pos + 2] << 8) | (buf[pos + 3] << 16);
  const lo = (buf[pos + 1] | (buf[pos + 2] << 8) | (buf[pos + 3] << 16) | (buf[pos + 4] << 24)) >>> 0;
  const hi = (buf[pos + 5] | (buf[pos + 6] << 8) | (buf[pos + 7] << 16) | (buf[pos + 8] << 24)) >>> 0;
  if (hi > 0x1fffff) return LENENC_INVALID;
  return hi * 0x100000000 + lo;
}

/**
 * Offset just past the lenenc string (or NULL) at `pos`, or a negative sentinel when the prefix
 * is invalid or the string runs past `end`. Used to walk text rows without decoding them.
 */
export function skipLenencString(buf: Uint8Array, pos: number, end: number): number {
  const len = peekLenenc(buf, pos, end);
  if (len === LENENC_NULL) return pos + 1;
  if (len < 0) return len;
  const next = pos + lenencPrefixSize(buf[pos]) + len;
  return next > end ? LENENC_TRUNCATED : next;
}

/** Encoded size of `value` as a lenenc integer. */
export function lenencIntLength(value: number | bigint): number {
  if (typeof value === 'number') {
    if (value < 0xfb) return 1;
    if (value < 0x10000) return 3;
    return value < 0x1000000 ? 4 : 9;
  }
  const v = value;
  if (v < 0xfbn) return 1;
  if (v < 0x10000n) return 3;
  if (v < 0x1000000n) return 4;
  return 9;
}

/** Write `value` as a lenenc integer at `pos`; returns the offset after it. */
export function writeLenencInt(buf: Buffer, pos: number, value: number | bigint): number {
  if (typeof value === 'number' && value >= 0 && value < 0x1000000) {
    // The common case without BigInt: lengths and counts below 16 MiB.
    if (value < 0xfb) {
      buf[pos] = value;
      return pos + 1;
    }
    if (value < 0x10000) {
      buf[pos] = 0xfc;
      buf.writeUInt16LE(value, pos + 1);
      return pos + 3;
    }
    buf[pos] = 0xfd;
    buf.writeUIntLE(value, pos + 1, 3);
    return pos + 4;
  }
  const v = typeof value === 'bigint' ? value : BigInt(value);
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`lenenc value out of range: ${v}`);
  if (v < 0xfbn) {
    buf[pos] = Number(v);
    return pos + 1;
  }
  if (v < 0x10000n) {
    buf[pos] = 0xfc;
    buf.writeUInt16LE(Number(v), pos + 1);
    return pos + 3;
  }
  if (v < 0x1000000n) {
    buf[pos] = 0xfd;
    buf.writeUIntLE(Number(v), pos + 1, 3);
    return pos + 4;
  }
  buf[pos] = 0xfe;
  buf.writeBigUInt64LE(v, pos + 1);
  return pos + 9;
}

/** A fresh buffer holding `value` as a lenenc integer. */
export function encodeLenencInt(value: number | bigint): Buffer {
  const out = Buffer.allocUnsafe(lenencIntLength(value));
  writeLenencInt(out, 0, value);
  return out;
}
