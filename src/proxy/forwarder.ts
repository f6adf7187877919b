/** Where forwarded bytes go: a SocketWriter; false once the peer's buffer is full. */
export interface ByteSink {
  write(b: Buffer): boolean;
}

/**
 * Collects the parts of one incoming chunk that are to be forwarded and writes them
 * with as few `write` calls as possible: consecutive messages of the same chunk become
 * one slice, and a chunk forwarded whole is written as it is (no copy, no slice).
 */
export class Forwarder {
  private chunk: Buffer | null = null;
  private start = -1;
  private end = -1;
  /** False once a write has filled the socket's buffer: the caller pauses its source. */
  ok = true;

  constructor(private readonly out: ByteSink) {}

  begin(chunk: Buffer): void {
    this.chunk = chunk;
    this.start = -1;
    this.end = -1;
  }

  /** Forward `part`, a view into the current chunk or a buffer of its own. */
  add(part: Buffer): void {
    const chunk = this.chunk;
    if (chunk !== null && part.buffer === chunk.buffer) {
      const at = part.byteOffset - chunk.byteOffset;
      if (at >= 0 && at + part.length <= chunk.length) {
        this.extend(at, at + part.length);
        return;
      }
    }
    this.flushRange();
    this.write(part);
  }

  /**
   * Forward bytes [start, end) of `chunk`. The per-packet path of both proxies: unlike `add` of a
   * view, it creates no Buffer object and reads no `.buffer` (a call into V8's C++ runtime).
   */
  range(chunk: Buffer, start: number, end: number): void {
    if (chunk === this.chunk) {
      this.extend(start, end);
      return;
    }
    this.flushRange();
    this.write(chunk.subarray(start, end));
  }

  /** Write what is pending from the current chunk. */
  finish(): void {
    this.flushRange();
    this.chunk = null;
  }

  private extend(start: number, end: number): void {
    if (this.start >= 0 && start === this.end) {
      this.end = end;
      return;
    }
    this.flushRange();
    this.start = start;
    this.end = end;
  }

  private flushRange(): void {
    if (this.start < 0 || this.chunk === null) return;
    const c = this.chunk;
    this.write(this.start === 0 && this.end === c.length ? c : c.subarray(this.start, this.end));
    this.start = -1;
    this.end = -1;
  }

  private write(b: Buffer): void {
    if (!this.out.write(b)) this.ok = false;
  }
}
