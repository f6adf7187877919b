/**
 * Asks the store for a signed checkpoint every `intervalMs`, after every `everySessions` sealed
 * sessions, and at shutdown (integrity/checkpoint.ts). The store decides whether anything is new
 * and whether it has a signing key; a failed checkpoint is logged and tried again next time.
 * Each checkpoint's number and hash go to the log, so a copy of the latest lives outside the
 * store: comparing it with the store is what reveals a rollback of the whole tail.
 */
import type { CheckpointInfo, SessionStore } from '../store/session-store.js';
import type { RecorderLogger } from './batch-writer.js';

export interface CheckpointerOptions {
  /** 0 disables the timer (checkpoints still happen by session count and at shutdown). */
  readonly intervalMs: number;
  readonly everySessions: number;
  readonly logger: RecorderLogger;
}

export class Checkpointer {
  checkpoints = 0;
  errors = 0;
  last: CheckpointInfo | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sealed = 0;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly store: SessionStore,
    private readonly opt: CheckpointerOptions,
  ) {
    if (!store.checkpoint) return;
    if (opt.intervalMs > 0) {
      this.timer = setInterval(() => void this.run(), opt.intervalMs);
      this.timer.unref();
    }
  }

  /** Sessions were sealed by a commit. */
  onSealed(n: number): void {
    this.sealed += n;
    if (this.sealed >= this.opt.everySessions) void this.run();
  }

  /** Checkpoint now (or right after the one running). */
  run(): Promise<void> {
    if (!this.store.checkpoint) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.once().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.run();
      }
    });
    return this.running;
  }

  /** Stops the timer and makes a last checkpoint. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.running) await this.running;
    this.again = false;
    await this.run();
  }

  private async once(): Promise<void> {
    this.sealed = 0;
    try {
      const info = await this.store.checkpoint!(Date.now() * 1000);
      if (!info) return;
      this.checkpoints++;
      this.last = info;
      this.opt.logger.info?.(
        { checkpoint: info.no, hash: info.hash, sessions: info.sessions, openSessions: info.openSessions },
        'signed a recording checkpoint',
      );
    } catch (err) {
      this.errors++;
      const e = err as { code?: unknown; message?: unknown };
      this.opt.logger.error(
        { err: String(e?.message ?? err), code: e?.code },
        'could not write a recording checkpoint; will try again',
      );
    }
  }
}
