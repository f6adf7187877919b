import {
  ER_MALFORMED_PACKET,
  ER_NET_PACKET_TOO_LARGE,
  ER_NET_PACKETS_OUT_OF_ORDER,
  PACKET_HEADER_SIZE,
  PacketAssembler,
  type PacketSegment,
  type ServerError,
} from '../../protocol/mysql/index.js';
import { STREAMABLE } from './commands.js';
import { forwardSegment, knownSize, type Sink } from './segments.js';

/**
 * The client → server direction, packet by packet (MySQL "MySQL Packets", "Sequence ID"):
 * checks every packet's sequence id and size, holds a command until it is whole when it is
 * small enough (so it can be looked at, changed or refused), streams bigger ones through with
 * their first bytes kept for the record, and passes LOAD DATA LOCAL INFILE data on untouched.
 */

export interface ClientStreamHooks {
  /** Bytes for the upstream, in order. */
  readonly forward: Sink;
  /**
   * A whole command. When it came in one piece, `rawStart` is the offset of its packet (header
   * included) in the chunk being read; else -1.
   */
  readonly command: (payload: Buffer, rawStart: number, respSeq: number) => void;
  /** A command too big to hold went through; `head` is its start. */
  readonly streamed: (code: number, head: Buffer, total: number) => void;
  /** A command too big to hold, of a kind that carries no data: answer it with an error. */
  readonly refuse: (code: number, respSeq: number) => void;
  readonly infileDone: (bytes: number) => void;
  /** The client broke the protocol: answer with this error (at `seq`) and end the session. */
  readonly violation: (e: ServerError, message: string, seq: number) => void;
}

export interface ClientStreamOptions {
  readonly maxMessageSize: number;
  /** Commands below this size are held whole. */
  readonly holdLimit: number;
  /** Keep the first bytes of streamed commands (for the recording). */
  readonly keepHead: boolean;
}

/** How much of a streamed command is kept for its record. */
const STREAM_HEAD = 64 * 1024;

type Mode = 'hold' | 'stream' | 'skip' | 'infile';

export class ClientStream {
  private readonly held: PacketAssembler;
  private mode: Mode = 'hold';
  /** Sequence id the client's next physical packet must carry. */
  private seq = 0;
  private infile: { shift: number; bytes: number } | null = null;
  private head: Buffer[] = [];
  private headSize = 0;
  private code = 0;

  constructor(
    private readonly hooks: ClientStreamHooks,
    private readonly o: ClientStreamOptions,
  ) {
    this.held = new PacketAssembler(o.holdLimit);
  }

  /**
   * The server asked for a local file: the client's next packets, from `clientSeq + 1`, are its
   * data, renumbered by `-seqShift` when dbtape's translation shifted the response's ids.
   */
  expectInfile(clientSeq: number, seqShift: number): void {
    this.infile = { shift: -seqShift, bytes: 0 };
    this.seq = (clientSeq + 1) & 0xff;
  }

  /** One framer segment of the current chunk. Returns false once the session must end. */
  segment(chunk: Buffer, seg: PacketSegment): boolean {
    if (seg.first && !this.packetStart(chunk, seg)) return false;
    const end = seg.complete && seg.lastOfLogical;
    // A command is one exchange: the client's next command starts again at sequence id 0.
    if (end && this.mode !== 'infile') this.seq = 0;
    switch (this.mode) {
      case 'hold': {
        if (this.held.add(chunk, seg) !== 'complete') return true;
        const rawStart = seg.first && seg.headerBytes === PACKET_HEADER_SIZE ? seg.rawStart : -1;
        this.hooks.command(this.held.payload, rawStart, (seg.seq + 1) & 0xff);
        return true;
      }
      case 'stream':
        forwardSegment(this.hooks.forward, chunk, seg, 0);
        this.keepHead(chunk, seg);
        if (end) {
          this.hooks.streamed(this.code, Buffer.concat(this.head), knownSize(seg));
          this.head = [];
          this.headSize = 0;
        }
        return true;
      case 'skip':
        if (end) this.hooks.refuse(this.code, (seg.seq + 1) & 0xff);
        return true;
      case 'infile': {
        const f = this.infile!;
        forwardSegment(this.hooks.forward, chunk, seg, f.shift);
        f.bytes += seg.payloadEnd - seg.payloadStart;
        // An empty packet ends the file.
        if (end && seg.length === 0 && !seg.isContinuation) {
          this.hooks.infileDone(f.bytes);
          this.infile = null;
          this.mode = 'hold';
          this.seq = 0;
        }
        return true;
      }
    }
  }

  /** Checks at the start of each physical packet. */
  private packetStart(chunk: Buffer, seg: PacketSegment): boolean {
    const expected = this.seq;
    // Every later check answers at the id after the packet's own: a client counts from what it sent.
    this.seq = (seg.seq + 1) & 0xff;
    if (seg.seq !== expected) {
      return this.violation(
        ER_NET_PACKETS_OUT_OF_ORDER,
        `dbtape: got packets out of order (expected sequence id ${expected}, got ${seg.seq})`,
      );
    }
    const size = knownSize(seg);
    if (size > this.o.maxMessageSize) {
      return this.violation(
        ER_NET_PACKET_TOO_LARGE,
        `dbtape: packet of ${size} bytes exceeds limits.max_message_size (${this.o.maxMessageSize})`,
      );
    }
    if (seg.isContinuation) return true;
    if (this.infile !== null) {
      this.mode = 'infile';
      return true;
    }
    if (seg.length === 0) return this.violation(ER_MALFORMED_PACKET, 'dbtape: empty command packet');
    this.code = chunk[seg.payloadStart];
    if (seg.length < this.o.holdLimit) {
      this.mode = 'hold';
      this.held.reset();
    } else {
      this.mode = STREAMABLE.has(this.code) ? 'stream' : 'skip';
    }
    return true;
  }

  private violation(e: ServerError, message: string): false {
    this.hooks.violation(e, message, this.seq);
    return false;
  }

  private keepHead(chunk: Buffer, seg: PacketSegment): void {
    if (!this.o.keepHead || this.headSize >= STREAM_HEAD) return;
    const n = Math.min(STREAM_HEAD - this.headSize, seg.payloadEnd - seg.payloadStart);
    this.head.push(Buffer.from(chunk.subarray(seg.payloadStart, seg.payloadStart + n)));
    this.headSize += n;
  }
}
