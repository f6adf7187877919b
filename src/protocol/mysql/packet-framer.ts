/**
 * Streaming framer for MySQL packets (MySQL protocol basics, "MySQL Packets"): a 4-byte header,
 * int<3> payload length + int<1> sequence id, then the payload. A payload of 0xFFFFFF bytes is
 * continued by the next packet, so a logical payload of 16 MiB or more is several physical
 * packets ("Sending More Than 16Mb"), the last one shorter than 0xFFFFFF (possibly empty).
 *
 * The framer never copies payload bytes: it reports segments, ranges of the current chunk,
 * so a proxy can forward what it only observes. Only a header split across chunks is carried
 * (at most 4 bytes). Iterate with `next()`; `segment` is one reused object, valid until the
 * following `next()` or `push()`. A caller may stop iterating (for instance to await a policy
 * decision) and resume later with `next()`; it pushes the next chunk only after `next()`
 * returned false.
 */
import { MAX_PACKET_PAYLOAD, PACKET_HEADER_SIZE } from './constants.js';

export interface PacketSegment {
  /** Sequence id of the physical packet this segment belongs to. */
  seq: number;
  /** Payload length of the physical packet (0..0xFFFFFF). */
  length: number;
  /** Chunk offset where this segment's bytes start: header bytes present in this chunk, then payload. */
  rawStart: number;
  /** Header bytes of this packet that lie in this chunk (4 normally; fewer when the header straddled chunks; 0 when not `first`). */
  headerBytes: number;
  /** Chunk offsets of this segment's payload bytes. */
  payloadStart: number;
  payloadEnd: number;
  /** Offset of `payloadStart` within the physical payload. */
  payloadOffset: number;
  /** Offset of `payloadStart` within the logical payload (sum of earlier 0xFFFFFF packets + payloadOffset). */
  logicalOffset: number;
  /** This segment begins the physical packet. */
  first: boolean;
  /** This segment ends the physical packet. */
  complete: boolean;
  /** The physical packet continues a logical packet (the previous one was 0xFFFFFF long). */
  isContinuation: boolean;
  /** The physical packet is the last of its logical packet (length < 0xFFFFFF). */
  lastOfLogical: boolean;
}

export class PacketFramer {
  /** The current segment; fields are overwritten by every `next()`. */
  readonly segment: PacketSegment = {
    seq: 0,
    length: 0,
    rawStart: 0,
    headerBytes: 0,
    payloadStart: 0,
    payloadEnd: 0,
    payloadOffset: 0,
    logicalOffset: 0,
    first: false,
    complete: false,
    isContinuation: false,
    lastOfLogical: false,
  };

  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private readonly header = Buffer.alloc(PACKET_HEADER_SIZE);
  private headerLen = 0;
  /** Header bytes of the packet being started that were read from the current chunk. */
  private headerInChunk = 0;
  private inPacket = false;
  private seq = 0;
  private length = 0;
  private offset = 0;
  private logicalBase = 0;
  private continuing = false;

  /** The chunk the current segment's offsets refer to. */
  get current(): Buffer {
    return this.chunk;
  }

  /**
   * True between logical packets: no partial header, no partial payload, no 0xFFFFFF packet
   * waiting for its continuation. A connection that closes while this is false ended mid-packet.
   */
  get idle(): boolean {
    return !this.inPacket && this.headerLen === 0 && !this.continuing;
  }

  /**
   * Offset in `chunk`, the next chunk to be pushed (once this one is used up), where the logical
   * packet in progress ends: 0 when none is in progress, -1 when it does not end within `chunk`.
   */
  packetEnd(chunk: Buffer): number {
    if (this.idle) return 0;
    let left: number;
    let length: number;
    if (this.inPacket) {
      length = this.length;
      left = length - this.offset;
    } else if (this.headerLen > 0) {
      const need = PACKET_HEADER_SIZE - this.headerLen;
      if (chunk.length < need) return -1;
      const h = Buffer.concat([this.header.subarray(0, this.headerLen), chunk.subarray(0, need)]);
      length = h[0] | (h[1] << 8) | (h[2] << 16);
      left = need + length;
    } else return -1; // between the physical packets of a logical one
    // A 0xFFFFFF packet is continued by the next: that one's end is not known yet.
    return length < MAX_PACKET_PAYLOAD && left <= chunk.length ? left : -1;
  }

  /** Chunk offset of the next packet; meaningful when `idle`. */
  get position(): number {
    return this.pos;
  }

  /** Move past `n` bytes of whole packets the caller framed itself from `position` (only when `idle`). */
  skip(n: number): void {
    this.pos += n;
  }

  push(chunk: Buffer): void {
    if (this.pos < this.chunk.length) {
      throw new Error('dbtape: PacketFramer.push called before the previous chunk was fully iterated');
    }
    this.chunk = chunk;
    this.pos = 0;
    this.headerInChunk = 0;
  }

  /** Advance to the next segment of the current chunk; false when the chunk is used up. */
  next(): boolean {
    if (!this.inPacket && !this.readHeader()) return false;
    const seg = this.segment;
    const take = Math.min(this.length - this.offset, this.chunk.length - this.pos);
    if (take === 0 && this.length > 0) return false; // header ended the chunk; payload comes next time
    const first = this.offset === 0;
    seg.seq = this.seq;
    seg.length = this.length;
    seg.headerBytes = first ? this.headerInChunk : 0;
    seg.rawStart = this.pos - seg.headerBytes;
    seg.payloadStart = this.pos;
    seg.payloadEnd = this.pos + take;
    seg.payloadOffset = this.offset;
    seg.logicalOffset = this.logicalBase + this.offset;
    seg.first = first;
    seg.isContinuation = this.logicalBase > 0;
    seg.lastOfLogical = this.length < MAX_PACKET_PAYLOAD;
    this.pos += take;
    this.offset += take;
    seg.complete = this.offset === this.length;
    if (seg.complete) this.finishPacket();
    return true;
  }

  /** Parse (or continue parsing) a header; false when the chunk ends first. */
  private readHeader(): boolean {
    const avail = this.chunk.length - this.pos;
    if (avail <= 0) return false;
    let hdr: Buffer = this.chunk;
    let at = this.pos;
    if (this.headerLen === 0 && avail >= PACKET_HEADER_SIZE) {
      this.pos += PACKET_HEADER_SIZE;
      this.headerInChunk = PACKET_HEADER_SIZE;
    } else {
      const n = Math.min(PACKET_HEADER_SIZE - this.headerLen, avail);
      if (this.headerLen === 0) this.headerInChunk = 0;
      this.chunk.copy(this.header, this.headerLen, this.pos, this.pos + n);
      this.headerLen += n;
      this.pos += n;
      this.headerInChunk += n;
      if (this.headerLen < PACKET_HEADER_SIZE) return false;
      this.headerLen = 0;
      hdr = this.header;
      at = 0;
    }
    this.length = hdr[at] | (hdr[at + 1] << 8) | (hdr[at + 2] << 16);
    this.seq = hdr[at + 3];
    this.offset = 0;
    this.inPacket = true;
    if (!this.continuing) this.logicalBase = 0;
    return true;
  }

  private finishPacket(): void {
    this.inPacket = false;
    this.headerInChunk = 0;
    if (this.length === MAX_PACKET_PAYLOAD) {
      this.logicalBase += MAX_PACKET_PAYLOAD;
      this.continuing = true;
    } else {
      this.continuing = false;
    }
  }
}
