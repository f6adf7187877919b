import type { EndReason, SessionId, SessionMeta } from '../model/session.js';

/** A live session as the rest of the process sees it: enough to list, count and end it. */
export interface LiveSession {
  readonly meta: SessionMeta;
  /**
   * Ends the session, telling its client `reason`: recorded as `killed` (an administrator's
   * request) or `proxy_shutdown` (dbtape is stopping).
   */
  kill(reason: string, end?: StopReason): void;
}

/** Why dbtape itself ends a live session. */
export type StopReason = Extract<EndReason, 'killed' | 'proxy_shutdown'>;

/** The sessions this process is serving now, for `kill`, metrics and graceful shutdown. */
export class SessionRegistry {
  private readonly sessions = new Map<SessionId, LiveSession>();
  private total = 0;

  add(s: LiveSession): void {
    this.sessions.set(s.meta.id, s);
    this.total++;
  }

  remove(id: SessionId): void {
    this.sessions.delete(id);
  }

  get(id: SessionId): LiveSession | undefined {
    return this.sessions.get(id);
  }

  get active(): number {
    return this.sessions.size;
  }

  get started(): number {
    return this.total;
  }

  all(): LiveSession[] {
    return [...this.sessions.values()];
  }
}
