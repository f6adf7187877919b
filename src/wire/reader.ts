import { decodeWireText, type TextDecode } from './text.js';

/**
 * Bounds-checked reading of a message body we decided to decode. Every read past the
 * end throws WireError, which callers turn into a protocol error for that client only.
 */
export class WireError extends Error {
  readonly code = 'DBTAPE_WIRE';
}

export class Reader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new WireError(`message truncated: need ${n} bytes at offset ${this.pos} of ${this.buf.length}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  i16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A NUL-terminated string (PostgreSQL `String`). */
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new WireError(`string without terminating NUL at offset ${this.pos}`);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /**
   * A NUL-terminated string kept lossless: bytes that are not valid UTF-8 survive (see text.ts),
   * for statement text that the recording must hold exactly as the server received it.
   */
  text(decode: TextDecode = decodeWireText): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new WireError(`string without terminating NUL at offset ${this.pos}`);
    const s = decode(this.buf.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  /** `n` raw bytes as a view (not a copy): copy before keeping it past the current tick. */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }
}
