/**
 * Streaming framer for typed protocol 3.0 messages (1-byte type, int32 length that
 * counts itself, body). It walks headers over each socket chunk and hands the caller
 * only what it asked for, per message type:
 *
 * - Skip:    the message is counted (`skipped`), its bytes are never touched.
 * - Pass:    the message's bytes are handed over piece by piece as they arrive
 *            (`pass`), so a large CopyData is forwarded without being buffered.
 * - Inspect: the complete message is handed over (`message`), assembled into a copy
 *            only when it spans chunks.
 * - Invalid: the type is not allowed in this direction: `invalid` and stop.
 *
 * Views handed to callbacks are valid only during the call (they pin the socket chunk).
 * Model: node-postgres pg-protocol parser.ts (mergeBuffer) and pgbouncer's sbuf.
 */

export const Mode = { Skip: 0, Pass: 1, Inspect: 2, Invalid: 3 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

export interface FrameHandler {
  /** A complete inspected message; `raw` is header + body. */
  message(type: number, body: Buffer, raw: Buffer): void;
  /** A skipped message started; its body is `bodyLength` bytes. */
  skipped(type: number, bodyLength: number): void;
  /** Bytes of a pass-mode message: the first piece starts with the header. */
  pass(type: number, bytes: Buffer, first: boolean): void;
  /** A framing violation; the framer stops and ignores further input. */
  invalid(reason: string, type: number): void;
}

const HEADER = 5;

export class Framer {
  /** Mode per type byte; callers may change entries between feeds (e.g. start or stop capturing rows). */
  readonly modes: Uint8Array;
  private readonly header = Buffer.allocUnsafe(HEADER);
  private headerFill = 0;
  /** Body bytes still to come for the current Skip/Pass message. */
  private remaining = 0;
  private remainingType = 0;
  private remainingMode: Mode = Mode.Skip;
  /** Inspect message being assembled across chunks. */
  private carry: Buffer | null = null;
  private carryFill = 0;
  private stopped = false;

  constructor(
    modes: Uint8Array,
    private readonly maxBodySize: number,
    private readonly handler: FrameHandler,
  ) {
    this.modes = modes;
  }

  /** True when no partial message is pending (useful for tests and for clean shutdown). */
  get idle(): boolean {
    return this.headerFill === 0 && this.remaining === 0 && this.carry === null;
  }

  /**
   * Offset in `chunk`, the next bytes to be fed, where the message in progress ends: 0 when none is
   * in progress, -1 when it does not end within `chunk`.
   */
  messageEnd(chunk: Buffer): number {
    let left: number;
    if (this.remaining > 0) left = this.remaining;
    else if (this.carry !== null) left = this.carry.length - this.carryFill;
    else if (this.headerFill > 0) {
      const need = HEADER - this.headerFill;
      if (chunk.length < need) return -1;
      const length = Buffer.concat([
        this.header.subarray(0, this.headerFill),
        chunk.subarray(0, need),
      ]).readInt32BE(1);
      left = need + Math.max(0, length - 4);
    } else return 0;
    return left <= chunk.length ? left : -1;
  }

  feed(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len && !this.stopped) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, len - pos);
        if (this.remainingMode === Mode.Pass) {
          this.handler.pass(this.remainingType, chunk.subarray(pos, pos + n), false);
        }
        this.remaining -= n;
        pos += n;
        continue;
      }
      if (this.carry !== null) {
        pos = this.fillCarry(chunk, pos);
        continue;
      }
      if (this.headerFill > 0 || len - pos < HEADER) {
        const n = Math.min(HEADER - this.headerFill, len - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < HEADER) return;
        this.headerFill = 0;
        this.startFromSplitHeader();
        continue;
      }
      pos = this.startInChunk(chunk, pos);
    }
  }

  /** Header entirely inside `chunk` at `pos`: the fast path. Returns the next position. */
  private startInChunk(chunk: Buffer, pos: number): number {
    const type = chunk[pos];
    const length = chunk.readInt32BE(pos + 1);
    const mode = this.check(type, length);
    if (mode === Mode.Invalid) return chunk.length;
    const body = length - 4;
    const end = pos + HEADER + body;
    switch (mode) {
      case Mode.Skip:
        this.handler.skipped(type, body);
        break;
      case Mode.Pass:
        this.handler.pass(type, chunk.subarray(pos, Math.min(end, chunk.length)), true);
        break;
      case Mode.Inspect:
        if (end <= chunk.length) {
          this.handler.message(type, chunk.subarray(pos + HEADER, end), chunk.subarray(pos, end));
          return end;
        }
        this.carry = Buffer.allocUnsafe(HEADER + body);
        chunk.copy(this.carry, 0, pos);
        this.carryFill = chunk.length - pos;
        return chunk.length;
    }
    if (end <= chunk.length) return end;
    this.remaining = end - chunk.length;
    this.remainingType = type;
    this.remainingMode = mode;
    return chunk.length;
  }

  /** Header was assembled in `this.header`; the body starts in the next bytes fed. */
  private startFromSplitHeader(): void {
    const type = this.header[0];
    const length = this.header.readInt32BE(1);
    const mode = this.check(type, length);
    if (mode === Mode.Invalid) return;
    const body = length - 4;
    switch (mode) {
      case Mode.Skip:
        this.handler.skipped(type, body);
        break;
      case Mode.Pass:
        this.handler.pass(type, Buffer.from(this.header), true);
        break;
      case Mode.Inspect:
        this.carry = Buffer.allocUnsafe(HEADER + body);
        this.header.copy(this.carry, 0);
        this.carryFill = HEADER;
        if (body === 0) this.completeCarry();
        return;
    }
    this.remaining = body;
    this.remainingType = type;
    this.remainingMode = mode;
  }

  private fillCarry(chunk: Buffer, pos: number): number {
    const carry = this.carry!;
    const n = Math.min(carry.length - this.carryFill, chunk.length - pos);
    chunk.copy(carry, this.carryFill, pos, pos + n);
    this.carryFill += n;
    if (this.carryFill === carry.length) this.completeCarry();
    return pos + n;
  }

  private completeCarry(): void {
    const carry = this.carry!;
    this.carry = null;
    this.carryFill = 0;
    this.handler.message(carry[0], carry.subarray(HEADER), carry);
  }

  private check(type: number, length: number): Mode | typeof Mode.Invalid {
    const mode = this.modes[type] as Mode;
    if (mode === Mode.Invalid) {
      return this.fail(`invalid message type 0x${type.toString(16).padStart(2, '0')}`, type);
    }
    if (length < 4) return this.fail(`invalid message length ${length}`, type);
    if (length - 4 > this.maxBodySize) {
      return this.fail(`message of ${length - 4} bytes exceeds the limit of ${this.maxBodySize}`, type);
    }
    return mode;
  }

  private fail(reason: string, type: number): typeof Mode.Invalid {
    this.stopped = true;
    this.handler.invalid(reason, type);
    return Mode.Invalid;
  }
}

/** A mode table with every type set to `fill`, then the listed overrides. */
export function modeTable(fill: Mode, overrides: Iterable<readonly [number, Mode]>): Uint8Array {
  const t = new Uint8Array(256).fill(fill);
  for (const [type, mode] of overrides) t[type] = mode;
  return t;
}
