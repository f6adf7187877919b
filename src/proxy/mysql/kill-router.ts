import { randomInt } from 'node:crypto';
import type { Target } from '../../model/identity.js';

/**
 * The connection ids dbtape shows clients (the greeting's connection id, what `mysql_thread_id`
 * and the client's Ctrl-C use) and the upstream thread each one stands for. A KILL naming a
 * dbtape id reaches that upstream thread, but only for the same dbtape user or an admin:
 * anyone else gets "Unknown thread id", as if it did not exist.
 */

export interface KillEntry {
  readonly user: string;
  readonly target: Target;
  readonly upstreamThreadId: number;
  /** Tell the session it is being killed (recorded there). */
  readonly notify: (detail: string) => void;
}

export interface Killer {
  readonly user: string;
  /** Whether this user may kill other users' sessions on `target` (admin). */
  readonly mayKillOthers: (target: Target) => boolean;
}

export class KillRouter {
  /** Every id in use, including connections still logging in (null entry). */
  private readonly ids = new Map<number, KillEntry | null>();
  private next = randomInt(1000, 1 << 20);

  /** A fresh id for a new connection; `release` it when the connection closes. */
  allocate(): number {
    while (this.ids.has(this.next)) this.bump();
    const id = this.next;
    this.bump();
    this.ids.set(id, null);
    return id;
  }

  register(id: number, entry: KillEntry): void {
    this.ids.set(id, entry);
  }

  release(id: number): void {
    this.ids.delete(id);
  }

  /**
   * The session `killer` may kill as `id`, or null ("Unknown thread id"). `id` is the dbtape id the
   * client was greeted with, or else the upstream thread id of a session (what `SELECT
   * CONNECTION_ID()` returns, since the statement runs upstream). With `on`, only sessions on that
   * server count (a KILL sent there reaches no other); without it, an upstream id that sessions on
   * two servers share is ambiguous, and unknown. A dbtape id wins over an equal upstream id: it is
   * the one clients are given.
   */
  resolve(id: number, killer: Killer, on?: Target): KillEntry | null {
    const e = this.ids.get(id) ?? this.byUpstreamThread(id, on);
    if (!e) return null;
    if (on !== undefined && !sameServer(e.target, on)) return null;
    if (e.user !== killer.user && !killer.mayKillOthers(e.target)) return null;
    return e;
  }

  /** Linear, but only a KILL that names no dbtape id gets here. */
  private byUpstreamThread(threadId: number, on: Target | undefined): KillEntry | null {
    let found: KillEntry | null = null;
    for (const e of this.ids.values()) {
      if (e === null || e.upstreamThreadId !== threadId) continue;
      if (on !== undefined && !sameServer(e.target, on)) continue;
      if (found !== null) return null;
      found = e;
    }
    return found;
  }

  private bump(): void {
    this.next = this.next >= 0x7fff_fff0 ? 1000 : this.next + 1;
  }
}

/** Two targets reach the same server, so a KILL sent on one's connection reaches the other's threads. */
export function sameServer(a: Target, b: Target): boolean {
  return a.host === b.host && a.port === b.port;
}
