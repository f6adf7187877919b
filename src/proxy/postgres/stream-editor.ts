import type { Forwarder } from '../forwarder.js';

/**
 * Edits a byte stream of protocol messages at message boundaries: drop a message, replace it, or put
 * bytes before it, while every other byte is forwarded as a slice of the chunk it arrived in.
 *
 * The framer reports each message once, in stream order: a skipped message when its header is read,
 * an inspected one when it is complete. Summing their sizes gives each message's offset in the
 * stream, so the editor knows where every message starts without a framer of its own. While editing,
 * bytes of a message the framer has not reported yet (an inspected message still being assembled, a
 * split header) are held back, since it may still be replaced; once reported, its held bytes are
 * taken from the framer's assembled copy (or the rebuilt header) and the rest from the chunk.
 * Used server → client (replacing errors, dropping and masking rows) and, for sessions that are
 * not recorded but checked, client → server (replacing denied statements).
 *
 * When nothing is to be edited the chunk is written whole before it is looked at, as without policy;
 * offsets are still counted so editing can start at any chunk boundary.
 */
export class StreamEditor {
  /** Stream offset where the next unreported message starts. */
  private pos = 0;
  /** Stream offset up to which every byte has been written, dropped or replaced. */
  private sent = 0;
  /** Stream offset of the current chunk's first byte. */
  private base = 0;
  private chunk: Buffer | null = null;
  private editingChunk = false;
  /** The last reported message started in an earlier chunk and its head is held back. */
  private lastHeld = false;
  private lastStart = 0;
  private lastType = 0;
  private lastBody = 0;
  private lastRaw: Buffer | null = null;

  constructor(private readonly out: Forwarder) {}

  /**
   * Where the next message's header starts in the chunk that comes next, or -1 when that is not
   * known from here (a header split across chunks, or a message whose head is held back).
   */
  get nextHeader(): number {
    return this.sent === this.base && this.pos >= this.base ? this.pos - this.base : -1;
  }

  /**
   * Start a chunk; `edit`: whether this chunk may need edits. Returns false when the chunk is to be
   * written whole by the caller (nothing to edit, nothing held back, no edited message running on).
   */
  begin(chunk: Buffer, edit: boolean): boolean {
    // Bytes held back (sent < base), or the rest of a message already dropped or replaced (sent >
    // base): either way the chunk cannot go out as it is.
    this.editingChunk = edit || this.sent !== this.base;
    this.chunk = chunk;
    if (this.editingChunk) this.out.begin(chunk);
    return this.editingChunk;
  }

  /** After the framer has seen the chunk: write what is decided, hold the unreported tail. */
  end(): void {
    const chunk = this.chunk!;
    const end = this.base + chunk.length;
    if (this.editingChunk) {
      if (this.lastHeld) this.settle();
      this.flushTo(Math.min(this.pos, end));
      this.out.finish();
    } else {
      this.sent = end;
    }
    this.base = end;
    this.chunk = null;
  }

  /** A skipped message's header was read; returns its stream offset. */
  skipped(type: number, bodyLength: number): number {
    if (this.lastHeld) this.settle();
    const s = this.pos;
    this.pos += 5 + bodyLength;
    if (this.editingChunk && this.sent < this.base && s < this.base) {
      // Its header was split across chunks and held back: written (rebuilt) unless it is edited.
      this.lastHeld = true;
      this.lastStart = s;
      this.lastType = type;
      this.lastBody = bodyLength;
      this.lastRaw = null;
    }
    return s;
  }

  /** A complete inspected message (`raw`: header + body); returns its stream offset. */
  inspected(raw: Buffer): number {
    if (this.lastHeld) this.settle();
    const s = this.pos;
    this.pos += raw.length;
    if (this.editingChunk && this.sent < this.base && s < this.base) {
      this.lastHeld = true;
      this.lastStart = s;
      this.lastRaw = raw;
    }
    return s;
  }

  /** Whether the message at `s` can still be changed (none of its bytes were written). */
  editable(s: number): boolean {
    return this.editingChunk && this.sent <= s;
  }

  /**
   * Replace the message at [s, s+length) with `bytes` (null: drop it). Only for the message just
   * reported, and only when `editable(s)`.
   */
  replace(s: number, length: number, bytes: Buffer | null): void {
    if (this.lastHeld && this.lastStart === s) this.lastHeld = false;
    this.flushTo(s);
    if (bytes) this.out.add(bytes);
    this.sent = s + length;
  }

  /** Write `bytes` before the message at `s` (just reported; `editable(s)`), which then follows. */
  insertBefore(s: number, bytes: Buffer): void {
    this.flushTo(s);
    this.out.add(bytes);
  }

  /**
   * Write the held-back head of the last reported message, which is kept. Its first bytes may have
   * gone out already, in a chunk written whole that ended inside its header: only the rest is held.
   */
  private settle(): void {
    this.lastHeld = false;
    const s = this.lastStart;
    const from = this.sent;
    if (from < s || from >= this.base) return;
    let head: Buffer;
    if (this.lastRaw) {
      head = this.lastRaw;
      this.lastRaw = null;
    } else {
      head = Buffer.allocUnsafe(5);
      head[0] = this.lastType;
      head.writeInt32BE(this.lastBody + 4, 1);
    }
    this.out.add(head.subarray(from - s, this.base - s));
    this.sent = this.base;
  }

  /** Write the current chunk's bytes from `sent` up to stream offset `to`. */
  private flushTo(to: number): void {
    const chunk = this.chunk!;
    const from = Math.max(this.sent, this.base);
    const until = Math.min(to, this.base + chunk.length);
    if (until > from) this.out.range(chunk, from - this.base, until - this.base);
    if (to > this.sent) this.sent = to;
  }
}
