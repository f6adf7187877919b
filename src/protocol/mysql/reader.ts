/**
 * Bounds-checked reader over one packet payload (a slice of a Buffer, never copied).
 * Every read checks against `end` and throws MysqlCodecError; public decoders wrap their
 * body in `decodeWith` so the throw becomes a Result and never escapes the codec.
 */
import { MysqlCodecError } from './errors.js';
import { LENENC_INVALID, LENENC_NULL, LENENC_TRUNCATED, lenencPrefixSize, peekLenenc } from './lenenc.js';

export class PacketReader {
  buf: Buffer;
  pos: number;
  end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Point the reader at another payload (lets one reader serve many packets). */
  reset(buf: Buffer, start = 0, end = buf.length): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_TRUNCATED',
        `dbtape: packet truncated reading ${what}: need ${n} byte(s), ${this.end - this.pos} left`,
      );
    }
  }

  u8(what = 'int<1>'): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  peekU8(): number {
    this.need(1, 'int<1>');
    return this.buf[this.pos];
  }

  u16(what = 'int<2>'): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(what = 'int<3>'): number {
    this.need(3, what);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(what = 'int<4>'): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = 'int<8>'): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A lenenc integer that must not be NULL; values above 2^53 are rejected as malformed. */
  lenencInt(what = 'int<lenenc>'): number {
    const v = this.lenencIntOrNull(what);
    if (v === null) throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', `dbtape: unexpected NULL in ${what}`);
    return v;
  }

  /** A lenenc integer, or null for the 0xFB NULL marker. */
  lenencIntOrNull(what = 'int<lenenc>'): number | null {
    const v = peekLenenc(this.buf, this.pos, this.end);
    if (v === LENENC_TRUNCATED)
      this.need(this.pos < this.end ? lenencPrefixSize(this.buf[this.pos]) : 1, what);
    if (v === LENENC_INVALID) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_MALFORMED',
        `dbtape: invalid length-encoded integer in ${what}`,
      );
    }
    if (v === LENENC_NULL) {
      this.pos += 1;
      return null;
    }
    this.pos += lenencPrefixSize(this.buf[this.pos]);
    return v;
  }

  /** A lenenc integer as an exact bigint (last insert ids can exceed 2^53). */
  lenencBig(what = 'int<lenenc>'): bigint {
    this.need(1, what);
    const first = this.buf[this.pos];
    if (first === 0xfe) {
      this.need(9, what);
      const v = this.buf.readBigUInt64LE(this.pos + 1);
      this.pos += 9;
      return v;
    }
    return BigInt(this.lenencInt(what));
  }

  bytes(n: number, what = 'string<fix>'): Buffer {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number, what = 'filler'): void {
    this.need(n, what);
    this.pos += n;
  }

  /** A lenenc string's bytes (a view, not a copy). */
  lenencBytes(what = 'string<lenenc>'): Buffer {
    const len = this.lenencInt(what);
    return this.bytes(len, what);
  }

  lenencString(what = 'string<lenenc>'): string {
    const len = this.lenencInt(what);
    this.need(len, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Bytes up to the next NUL (consumed, not included). Throws when there is no NUL before the end. */
  nulBytes(what = 'string<NUL>'): Buffer {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) {
      throw new MysqlCodecError('DBTAPE_MYSQL_TRUNCATED', `dbtape: packet truncated reading ${what}: no NUL`);
    }
    const out = this.buf.subarray(this.pos, nul);
    this.pos = nul + 1;
    return out;
  }

  nulString(what = 'string<NUL>'): string {
    return this.nulBytes(what).toString('utf8');
  }

  /**
   * A trailing NUL-terminated field that some clients send without its NUL: reads to the NUL,
   * or to the end of the packet when there is none. Null when nothing is left.
   */
  optionalNulString(): string | null {
    if (this.pos >= this.end) return null;
    const nul = this.buf.indexOf(0, this.pos);
    const stop = nul < 0 || nul >= this.end ? this.end : nul;
    const s = this.buf.toString('utf8', this.pos, stop);
    this.pos = stop < this.end ? stop + 1 : stop;
    return s;
  }

  restBytes(): Buffer {
    const out = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return out;
  }

  restString(): string {
    const s = this.buf.toString('utf8', this.pos, this.end);
    this.pos = this.end;
    return s;
  }
}
