/**
 * Sign-in throttling. Failures are counted per (user name, client address) pair, per address and
 * per user name across all addresses; past a key's allowance every further attempt on it must wait,
 * the wait doubling with each failure up to a cap. While a key waits, attempts are refused without
 * checking the password, so guessing cannot go faster than the schedule. Failures are forgotten
 * after the cap has passed without one.
 *
 * The small allowance is per pair, not per name: counted per name alone, anyone could lock a user
 * out (five wrong passwords for "admin" from anywhere and the real admin waited too).
 *
 * "Address" is the client's block (ip-address.ts's clientBlock): an IPv6 client is counted by its
 * /64, which it can fill with as many addresses as it likes.
 */
import { clientBlock } from '../ip-address.js';

export interface LimiterOptions {
  /** Failures for one user name from one address. */
  readonly perUserFromIp: number;
  /** Failures from one address, whatever the names. */
  readonly perIp: number;
  /** Failures for one user name from all addresses together. */
  readonly perUserAllIps: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly now: () => number;
}

/**
 * Default of `perUserAllIps`. It bounds distributed guessing: an attacker spreading guesses for one
 * name over many addresses gets past each pair's and each address's allowance, so the name itself
 * must slow down at some point. It is much larger than the pair's allowance so that only such a
 * campaign, not a few mistyped passwords, makes the real user wait; that wait is the price of
 * bounding the campaign.
 */
export const PER_USER_ALL_IPS = 100;

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
    return Math.max(
      this.waitFor(pairKey(user, ip), this.o.perUserFromIp),
      this.waitFor(ipKey(ip), this.o.perIp),
      this.waitFor(userKey(user), this.o.perUserAllIps),
    );
  }

  failed(user: string, ip: string): void {
    if (this.entries.size >= SWEEP_AT) this.sweep();
    for (const key of [pairKey(user, ip), ipKey(ip), userKey(user)]) {
      const e = this.live(key) ?? { failures: 0, lastFailureMs: 0 };
      e.failures++;
      e.lastFailureMs = this.o.now();
      this.entries.set(key, e);
    }
  }

  /**
   * A good password clears the pair's count. The address keeps its count (one good account must
   * not reset it), and so does the name: the owner signing in says nothing about the guesses from
   * elsewhere, and clearing would hand a distributed guesser a fresh allowance.
   */
  succeeded(user: string, ip: string): void {
    this.entries.delete(pairKey(user, ip));
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
  return `i:${clientBlock(ip)}`;
}

/** The address first: it has no spaces, so the key cannot be forged by a name that holds one. */
function pairKey(user: string, ip: string): string {
  return `p:${clientBlock(ip)} ${user.toLowerCase()}`;
}
