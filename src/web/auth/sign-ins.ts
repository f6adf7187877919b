/**
 * Dashboard sign-ins, kept in memory: the cookie holds a random token, the table is keyed by its
 * SHA-256 (a lookup's timing then says nothing about valid tokens). A sign-in lapses after a
 * period without requests and, whatever the activity, after an absolute lifetime. Each sign-in
 * has its own CSRF token, which the browser reads from the API and echoes in a header. Whatever
 * ends a sign-in (sign-out, lapse, the per-user cap, a full table) is reported through `onEnd`, so
 * that what it opened (live streams) ends with it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SignIn {
  readonly id: string;
  readonly user: string;
  readonly csrf: string;
  readonly createdMs: number;
  lastSeenMs: number;
}

export interface SignInOptions {
  readonly idleMs: number;
  readonly absoluteMs: number;
  readonly now: () => number;
  /** Called with the id of every sign-in that ends, whatever the reason. */
  readonly onEnd?: (id: string) => void;
}

const MAX_SIGN_INS = 10_000;
/**
 * Sign-ins one user may hold at once; a new one ends that user's oldest. Without it one user
 * signing in 10,000 times pushed everyone else's sign-ins out of the table.
 */
export const MAX_SIGN_INS_PER_USER = 50;

export class SignInTable {
  private readonly byHash = new Map<string, SignIn>();
  /** Sign-in id to its key in `byHash`, for checks by id (a stream holds the id, not the cookie). */
  private readonly keyById = new Map<string, string>();

  constructor(private readonly o: SignInOptions) {}

  /** Starts a sign-in; returns the cookie value (shown once, never stored). */
  create(user: string): { token: string; signIn: SignIn } {
    this.limitUser(user);
    if (this.byHash.size >= MAX_SIGN_INS) this.sweep();
    const token = randomBytes(32).toString('base64url');
    const now = this.o.now();
    const signIn: SignIn = {
      id: randomBytes(9).toString('base64url'),
      user,
      csrf: randomBytes(32).toString('base64url'),
      createdMs: now,
      lastSeenMs: now,
    };
    const key = hashToken(token);
    this.byHash.set(key, signIn);
    this.keyById.set(signIn.id, key);
    return { token, signIn };
  }

  /** The live sign-in for a cookie value, refreshed; null when unknown or lapsed. */
  lookup(token: string): SignIn | null {
    const key = hashToken(token);
    const s = this.byHash.get(key);
    if (!s) return null;
    if (this.lapsed(s)) {
      this.remove(key);
      return null;
    }
    s.lastSeenMs = this.o.now();
    return s;
  }

  /**
   * The live sign-in with this id, or null; unlike `lookup` it does not count as activity (a live
   * stream asks at every heartbeat, and must not keep an idle sign-in alive).
   */
  peek(id: string): SignIn | null {
    const key = this.keyById.get(id);
    const s = key === undefined ? undefined : this.byHash.get(key);
    if (key === undefined || !s) return null;
    if (this.lapsed(s)) {
      this.remove(key);
      return null;
    }
    return s;
  }

  end(token: string): void {
    this.remove(hashToken(token));
  }

  get size(): number {
    return this.byHash.size;
  }

  private lapsed(s: SignIn): boolean {
    const now = this.o.now();
    return now - s.lastSeenMs > this.o.idleMs || now - s.createdMs > this.o.absoluteMs;
  }

  /** Makes room for one more sign-in of `user`: ends its oldest ones beyond the cap. */
  private limitUser(user: string): void {
    const mine: string[] = [];
    for (const [k, s] of this.byHash) if (s.user === user) mine.push(k);
    // Map order is insertion order: the first are the oldest.
    for (let i = 0; i <= mine.length - MAX_SIGN_INS_PER_USER; i++) this.remove(mine[i]!);
  }

  private sweep(): void {
    for (const [k, s] of this.byHash) if (this.lapsed(s)) this.remove(k);
    // Still full: drop the oldest, so a flood of sign-ins cannot grow memory without bound.
    while (this.byHash.size >= MAX_SIGN_INS) {
      const oldest = this.byHash.keys().next().value;
      if (oldest === undefined) break;
      this.remove(oldest);
    }
  }

  private remove(key: string): void {
    const s = this.byHash.get(key);
    if (!s) return;
    this.byHash.delete(key);
    this.keyById.delete(s.id);
    this.o.onEnd?.(s.id);
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Constant-time comparison of two strings (different lengths compare unequal at once). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
