/**
 * A warning any client can cause at will, kept from growing the log without bound. In each window
 * the first line for a key (a Host name, say) is written as it comes; further ones for that key
 * are only counted, and when the window ends one summary line per key gives the count. A client
 * can make up keys as well, so past `maxKeys` keys in a window the lines for new keys are counted
 * together into one more summary. A window opens with the first line after the last one closed, so
 * a window writes at most 2 × maxKeys + 1 lines, and memory holds at most maxKeys keys.
 */
import type { Logger } from '../model/logger.js';

export interface LogThrottleOptions {
  /** The line's message; summaries repeat it, so one search finds both. */
  readonly msg: string;
  /** The field a summary names its key in, as the full lines do (`host`). */
  readonly keyField: string;
  readonly windowMs?: number;
  readonly maxKeys?: number;
}

export class LogThrottle {
  private readonly windowMs: number;
  private readonly maxKeys: number;
  /** Lines not written this window, by key. */
  private readonly held = new Map<string, number>();
  /** Lines for keys past maxKeys this window. */
  private overflow = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly o: LogThrottleOptions,
  ) {
    this.windowMs = o.windowMs ?? 60_000;
    this.maxKeys = o.maxKeys ?? 20;
  }

  warn(key: string, fields: object): void {
    // Unref'd: a pending summary must not keep the process alive; close() writes it on shutdown.
    this.timer ??= setTimeout(() => this.flush(), this.windowMs).unref();
    const held = this.held.get(key);
    if (held !== undefined) this.held.set(key, held + 1);
    else if (this.held.size >= this.maxKeys) this.overflow++;
    else {
      this.held.set(key, 0);
      this.log.warn(fields, this.o.msg);
    }
  }

  /** Ends the window: writes its summaries, and the next line opens a new one. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const seconds = Math.round(this.windowMs / 1000);
    const noun = this.o.keyField;
    for (const [key, count] of this.held) {
      if (count === 0) continue;
      this.log.warn(
        { [noun]: key, suppressed: count, window_s: seconds },
        `${this.o.msg} (${count} more for this ${noun} in the last ${seconds} s, not logged one by one)`,
      );
    }
    if (this.overflow > 0) {
      this.log.warn(
        { suppressed: this.overflow, window_s: seconds },
        `${this.o.msg} (${this.overflow} more for other ${noun} values in the last ${seconds} s, not logged one by one: over ${this.maxKeys} ${noun} values in the window)`,
      );
    }
    this.held.clear();
    this.overflow = 0;
  }
}
