/**
 * Whether the store is writing, and when to try again: a failure starts a backoff (50 ms,
 * doubling up to the cap), is logged once until the store writes again, and is kept so that
 * the errors given meanwhile say what went wrong.
 */
import type { RecorderLogger } from './batch-writer.js';

const FIRST_BACKOFF_MS = 50;

export class StoreHealth {
  /** The last write or sync failed and none has succeeded since. */
  failing = false;
  /** Why, for the errors durable() gives meanwhile. */
  lastError: unknown = null;
  /** No attempt before this time (Date.now() ms). */
  retryAt = 0;
  /** Committed batches whose fsync failed: the next attempt must sync, even with nothing to write. */
  needSync = false;
  errors = 0;
  private backoffMs = 0;

  constructor(
    private readonly maxBackoffMs: number,
    private readonly logger: RecorderLogger,
  ) {}

  failed(err: unknown, events: number): void {
    this.errors++;
    this.lastError = err;
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, FIRST_BACKOFF_MS), this.maxBackoffMs);
    this.retryAt = Date.now() + this.backoffMs;
    if (this.failing) return;
    this.failing = true;
    const e = err as { code?: unknown; message?: unknown };
    this.logger.error(
      { err: String(e?.message ?? err), code: e?.code, events },
      'recording store write failed; sessions continue, lost events will be recorded as gaps',
    );
  }

  syncFailed(err: unknown): void {
    this.needSync = true;
    this.failed(err, 0);
  }

  recovered(): void {
    if (this.failing) {
      this.failing = false;
      this.lastError = null;
      this.logger.warn({}, 'recording store writes again');
    }
    this.needSync = false;
    this.backoffMs = 0;
    this.retryAt = 0;
  }
}
