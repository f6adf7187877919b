import {
  framePayload,
  PACKET_HEADER_SIZE,
  type PacketSegment,
  writePacketHeader,
} from '../../protocol/mysql/index.js';

/**
 * Forwarding framer segments (protocol/mysql/packet-framer.ts) without copying payloads: a
 * segment is passed on as a view of the chunk it arrived in; only a packet header is written
 * anew, when it must carry another sequence id or when it straddled two chunks (the framer
 * consumed its first bytes with the previous chunk).
 */

/** Where forwarded bytes go: ranges of the chunk being read, or buffers of their own. */
export interface Sink {
  range(chunk: Buffer, start: number, end: number): void;
  part(bytes: Buffer): void;
}

export function forwardSegment(
  out: Sink,
  chunk: Buffer,
  seg: Readonly<PacketSegment>,
  seqShift: number,
): void {
  if (seqShift === 0 && (!seg.first || seg.headerBytes === PACKET_HEADER_SIZE)) {
    if (seg.payloadEnd > seg.rawStart) out.range(chunk, seg.rawStart, seg.payloadEnd);
    return;
  }
  if (seg.first) {
    const header = Buffer.allocUnsafe(PACKET_HEADER_SIZE);
    writePacketHeader(header, 0, seg.length, (seg.seq + seqShift) & 0xff);
    out.part(header);
  }
  if (seg.payloadEnd > seg.payloadStart) out.range(chunk, seg.payloadStart, seg.payloadEnd);
}

/** A whole logical payload as packets from sequence id `seq` (0xFFFFFF splitting included). */
export function frame(payload: Buffer, seq: number): Buffer {
  return framePayload(payload, seq & 0xff).bytes;
}

/** The logical payload size a segment's packet belongs to, as far as known at this segment. */
export function knownSize(seg: Readonly<PacketSegment>): number {
  return seg.logicalOffset - seg.payloadOffset + seg.length;
}
