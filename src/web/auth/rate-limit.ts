/**
 * Sign-in throttling. Failures are counted per user name and per client address; past the
 * allowance every further attempt must wait, the wait doubling with each failure up to a cap.
 * While a key waits, attempts are refused without checking the password, so guessing cannot
 * go faster than the schedule. Failures are forgotten after the cap has passed without one.
 */
export interface LimiterOptions {
  readonly perUser: number;
  readonly perIp: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly now: () => number;
}

interface Entry {
  failures: number;
  lastFailureMs: number;
}

/** Entries kept before old ones are swept; bounds memory under a flood of made-up names. */
const SWEEP_AT = 10_000;

export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly o: LimiterOptions) {}

  /** Milliseconds the attempt must still wait (0: go ahead). */
  waitMs(user: string, ip: string): number {
    return Math.max(this.waitFor(userKey(user), this.o.perUser), this.waitFor(ipKey(ip), this.o.perIp));
  }

  failed(user: string, ip: string): void {
    if (this.entries.size >= SWEEP_AT) this.sweep();
    for (const key of [userKey(user), ipKey(ip)]) {
      const e = this.live(key) ?? { failures: 0, lastFailureMs: 0 };
      e.failures++;
      e.lastFailureMs = this.o.now();
      this.entries.set(key, e);
    }
  }

  /** A good password clears the user's count; the address keeps its count (one good account must not reset it). */
  succeeded(user: string): void {
    this.entries.delete(userKey(user));
  }

  private waitFor(key: string, allowance: number): number {
    const e = this.live(key);
    if (!e || e.failures < allowance) return 0;
    const delay = Math.min(this.o.baseDelayMs * 2 ** (e.failures - allowance), this.o.maxDelayMs);
    return Math.max(0, e.lastFailureMs + delay - this.o.now());
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.o.now() - e.lastFailureMs > this.o.maxDelayMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private sweep(): void {
    for (const key of [...this.entries.keys()]) this.live(key);
  }
}

function userKey(user: string): string {
  return `u:${user.toLowerCase()}`;
}

function ipKey(ip: string): string {
  return `i:${ip}`;
}
