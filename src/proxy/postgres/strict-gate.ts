import { F } from '../../protocol/postgres/codes.js';

/**
 * `durability: strict`: a statement reaches the database only after its record is
 * durable. Client messages are held in batches that end at a point where the server
 * would answer (Query, Sync, Flush, FunctionCall, Terminate); a batch that holds a
 * statement waits for the recorder, then goes upstream whole — or, if the store cannot
 * write, is refused with an error while the session stays usable.
 *
 * Batches are processed one at a time, in order. Only this mode copies client bytes.
 */

export interface GateHooks {
  /**
   * Decode, check and track one message (emits its events); throws if it is malformed. Returns the
   * bytes to forward in its place: `raw` itself, a replacement (a denied statement's stand-in), or
   * null when nothing is to be sent.
   */
  handle(type: number, body: Buffer, raw: Buffer): Buffer | null;
  /** Called with a malformed message's error: the session ends. */
  malformed(type: number, err: Error): void;
  forward(parts: readonly Buffer[]): void;
  durable(): Promise<void>;
  /** Answer a refused batch in the server's place; `last` is the type of its final message. */
  refuse(err: Error, last: number, batch: readonly Buffer[]): Promise<void>;
  pauseClient(): void;
  resumeClient(): void;
}

const STATEMENTS = new Set<number>([F.Query, F.Execute, F.FunctionCall]);
const BOUNDARIES = new Set<number>([F.Query, F.Sync, F.Flush, F.FunctionCall, F.Terminate]);
/** COPY FROM STDIN data carries no statements: it flows without waiting. */
const COPY_IN = new Set<number>([F.CopyData, F.CopyDone, F.CopyFail]);
/** Held bytes above which the client is paused until the gate catches up. */
const HIGH_WATER = 4 << 20;

export class StrictGate {
  private readonly queue: { type: number; raw: Buffer; whole: boolean }[] = [];
  private queued = 0;
  private batch: Buffer[] = [];
  private statements = 0;
  private running = false;
  private paused = false;
  private stopped = false;
  /** After a refused batch that ended in Flush, the server would skip until Sync. */
  private skipUntilSync = false;

  constructor(private readonly hooks: GateHooks) {}

  /**
   * One client message (`whole`), or a piece of a CopyData message whose bytes are
   * forwarded as they come and never decoded.
   */
  push(type: number, raw: Buffer, whole: boolean): void {
    if (this.stopped) return;
    this.queue.push({ type, raw: Buffer.from(raw), whole });
    this.queued += raw.length;
    if (this.queued > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.hooks.pauseClient();
    }
    if (!this.running) void this.drain();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let item = this.queue.shift(); item && !this.stopped; item = this.queue.shift()) {
        this.queued -= item.raw.length;
        await this.step(item.type, item.raw, item.whole);
      }
    } finally {
      this.running = false;
      if (this.paused) {
        this.paused = false;
        this.hooks.resumeClient();
      }
    }
  }

  private async step(type: number, raw: Buffer, whole: boolean): Promise<void> {
    if (this.skipUntilSync) {
      if (type !== F.Sync) return;
      this.skipUntilSync = false;
      await this.hooks.refuse(new Error('skipped after an earlier refusal'), F.Sync, []);
      return;
    }
    let out: Buffer | null = raw;
    if (whole) {
      try {
        out = this.hooks.handle(type, raw.subarray(5), raw);
      } catch (err) {
        this.hooks.malformed(type, err as Error);
        this.stop();
        return;
      }
    }
    if (out === null) return;
    this.batch.push(out);
    if (STATEMENTS.has(type)) this.statements++;
    const boundary = BOUNDARIES.has(type) || (COPY_IN.has(type) && this.statements === 0);
    if (!boundary) return;
    const batch = this.batch;
    const statements = this.statements;
    this.batch = [];
    this.statements = 0;
    if (statements > 0) {
      try {
        await this.hooks.durable();
      } catch (err) {
        if (type === F.Flush) this.skipUntilSync = true;
        await this.hooks.refuse(err as Error, type, batch);
        return;
      }
    }
    if (!this.stopped) this.hooks.forward(batch);
  }
}
