/**
 * Collects one logical packet from framer segments when the caller must decode it
 * (handshake, auth, commands, OK/ERR). Bounded by a caller-given maximum: a larger packet is
 * reported once as DBTAPE_MYSQL_TOO_LARGE and its remaining segments are skipped.
 * A packet that arrives whole inside one chunk is returned as a view of that chunk (no copy);
 * only packets split across chunks or physical packets are copied.
 */
import { MAX_PACKET_PAYLOAD } from './constants.js';
import { MysqlCodecError } from './errors.js';
import type { PacketFramer, PacketSegment } from './packet-framer.js';

export type AssembleStatus = 'partial' | 'complete' | 'too-large' | 'skipping';

export class PacketAssembler {
  readonly maxSize: number;
  /** The assembled logical payload; valid after 'complete' until the next `add`. */
  payload: Buffer = Buffer.alloc(0);
  /** Sequence id of the first and of the last physical packet of the assembled payload. */
  firstSeq = 0;
  lastSeq = 0;
  private pieces: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  /** Whether a logical packet is in progress (some but not all of its segments seen). */
  get busy(): boolean {
    return this.size > 0 || this.pieces.length > 0 || this.skipping;
  }

  /** Drop any partial packet. */
  reset(): void {
    this.pieces = [];
    this.size = 0;
    this.skipping = false;
  }

  /**
   * Feed the framer's current segment (`chunk` is `framer.current`). Returns 'complete' when the
   * logical packet is whole (`payload` holds it), 'too-large' once when it exceeds `maxSize`,
   * then 'skipping' for its remaining segments, else 'partial'.
   */
  add(chunk: Buffer, seg: Readonly<PacketSegment>): AssembleStatus {
    if (seg.first && seg.logicalOffset === 0) this.firstSeq = seg.seq;
    this.lastSeq = seg.seq;
    const ends = seg.complete && seg.lastOfLogical;
    if (this.skipping) {
      if (ends) this.skipping = false;
      return 'skipping';
    }
    const known = seg.logicalOffset - seg.payloadOffset + seg.length; // lower bound of the logical size
    if (known > this.maxSize) {
      this.reset();
      this.skipping = !ends;
      return 'too-large';
    }
    const piece = chunk.subarray(seg.payloadStart, seg.payloadEnd);
    if (ends && this.pieces.length === 0) {
      this.payload = piece;
      this.size = 0;
      return 'complete';
    }
    if (piece.length > 0) {
      // Copy: the chunk belongs to the socket and the packet outlives it.
      this.pieces.push(Buffer.from(piece));
      this.size += piece.length;
    }
    if (!ends) return 'partial';
    this.payload = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces, this.size);
    this.pieces = [];
    this.size = 0;
    return 'complete';
  }
}

export type AssembledPacket =
  | { readonly status: 'need-more' }
  | { readonly status: 'packet'; readonly payload: Buffer; readonly seq: number; readonly lastSeq: number }
  | { readonly status: 'too-large'; readonly seq: number; readonly error: MysqlCodecError };

const NEED_MORE: AssembledPacket = { status: 'need-more' };

/**
 * Pull segments from `framer` until one logical packet is complete. The simple path for
 * phases where every packet is decoded (handshake, auth); the payload may be a view of the
 * current chunk, so copy it if it must outlive the chunk.
 */
export function assembleSmall(framer: PacketFramer, assembler: PacketAssembler): AssembledPacket {
  while (framer.next()) {
    const status = assembler.add(framer.current, framer.segment);
    if (status === 'complete') {
      return {
        status: 'packet',
        payload: assembler.payload,
        seq: assembler.firstSeq,
        lastSeq: assembler.lastSeq,
      };
    }
    if (status === 'too-large') {
      const seg = framer.segment;
      const size =
        seg.length === MAX_PACKET_PAYLOAD
          ? 'at least 16 MiB'
          : `${seg.logicalOffset - seg.payloadOffset + seg.length} bytes`;
      return {
        status: 'too-large',
        seq: seg.seq,
        error: new MysqlCodecError(
          'DBTAPE_MYSQL_TOO_LARGE',
          `dbtape: packet of ${size} exceeds the limit of ${assembler.maxSize} bytes`,
        ),
      };
    }
  }
  return NEED_MORE;
}
