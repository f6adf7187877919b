/**
 * Builds packets dbtape originates (handshake, auth, OK/ERR, rewritten rows).
 * The payload is written after 4 reserved header bytes, so a packet below 16 MiB is framed
 * without copying; larger payloads are split per "Sending More Than 16Mb" (MySQL protocol
 * basics): 0xFFFFFF-byte packets, then a shorter one (possibly empty), ids counting up.
 */
import { MAX_PACKET_PAYLOAD, PACKET_HEADER_SIZE } from './constants.js';
import { lenencIntLength, writeLenencInt } from './lenenc.js';

/** Write a 4-byte packet header (3-byte LE length, 1-byte sequence id) at `pos`. */
export function writePacketHeader(buf: Buffer, pos: number, length: number, seq: number): void {
  buf[pos] = length & 0xff;
  buf[pos + 1] = (length >>> 8) & 0xff;
  buf[pos + 2] = (length >>> 16) & 0xff;
  buf[pos + 3] = seq & 0xff;
}

/** Number of physical packets a logical payload of `length` bytes takes. */
export function physicalPacketCount(length: number): number {
  return Math.floor(length / MAX_PACKET_PAYLOAD) + 1;
}

/**
 * Frame a whole logical payload as one or more physical packets starting at sequence id `seq`.
 * Returns the bytes and the sequence id the next packet must carry.
 */
export function framePayload(payload: Uint8Array, seq: number): { bytes: Buffer; nextSeq: number } {
  const count = physicalPacketCount(payload.length);
  const out = Buffer.allocUnsafe(payload.length + count * PACKET_HEADER_SIZE);
  let src = 0;
  let dst = 0;
  for (let i = 0; i < count; i++) {
    const len = Math.min(MAX_PACKET_PAYLOAD, payload.length - src);
    writePacketHeader(out, dst, len, seq + i);
    out.set(payload.subarray(src, src + len), dst + PACKET_HEADER_SIZE);
    src += len;
    dst += PACKET_HEADER_SIZE + len;
  }
  return { bytes: out, nextSeq: (seq + count) & 0xff };
}

export class PacketWriter {
  private buf: Buffer;
  private pos = PACKET_HEADER_SIZE;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, 16));
  }

  get length(): number {
    return this.pos - PACKET_HEADER_SIZE;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf.writeUIntLE(v & 0xffffff, this.pos, 3);
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** UTF-8 text without terminator (string<EOF> / string<fix>). */
  text(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
    return this;
  }

  nulString(s: string | Uint8Array): this {
    if (typeof s === 'string') this.text(s);
    else this.bytes(s);
    return this.u8(0);
  }

  lenencInt(v: number | bigint): this {
    this.ensure(lenencIntLength(v));
    this.pos = writeLenencInt(this.buf, this.pos, v);
    return this;
  }

  lenencString(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.lenencInt(b.length);
    return this.bytes(b);
  }

  /** The payload written so far (a view into the writer's buffer). */
  payload(): Buffer {
    return this.buf.subarray(PACKET_HEADER_SIZE, this.pos);
  }

  /** Header + payload as wire bytes, split into 0xFFFFFF packets when needed. */
  packet(seq: number): Buffer {
    const len = this.length;
    if (len < MAX_PACKET_PAYLOAD) {
      writePacketHeader(this.buf, 0, len, seq);
      return this.buf.subarray(0, this.pos);
    }
    return framePayload(this.payload(), seq).bytes;
  }
}
