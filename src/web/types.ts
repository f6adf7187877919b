/** What the web layer needs from the rest of the process, as small interfaces (web never imports proxy). */
import type { Config } from '../config/types.js';
import type { Histogram } from '../model/histogram.js';
import type { Logger } from '../model/logger.js';
import type { SessionId } from '../model/session.js';
import type { LiveBus } from '../recording/live-bus.js';
import type { SessionStore } from '../store/session-store.js';

/** The sessions this process is proxying now; the lead adapts proxy/SessionRegistry to it. */
export interface LiveSessionsView {
  /** Ids of the sessions live in this process. */
  activeIds(): readonly SessionId[];
  /** Ends a live session (its client receives `dbtape: <reason>`); false when it is not live here. */
  kill(id: SessionId, reason: string): boolean;
}

/** Process-wide numbers for /metrics and /healthz that the web layer cannot see on the bus. */
export interface MetricsSnapshot {
  readonly sessionsActive: number;
  /** Sessions accepted since the process started. */
  readonly sessionsTotal: number;
  /** Null when nothing is recorded. */
  readonly recording: {
    readonly queueDepth: number;
    readonly queueLimit: number;
    /** Failed store writes (each retried) plus recorder failures. */
    readonly errors: number;
    /** Gap events written: holes in some session's recording. */
    readonly gaps: number;
    /** Events lost (queue full or store failing). */
    readonly lost: number;
    /** Events committed to the store. */
    readonly committed: number;
    /** Strict mode: statements refused because their record could not be made durable. */
    readonly refused: number;
    /** Strict mode: how long each group commit took to be on disk; null in fast mode. */
    readonly durableWrites: Histogram | null;
  } | null;
}

export interface LoginLimits {
  /** Failures for one user name from one address before each further attempt waits (default 5). */
  readonly perUserFromIp?: number;
  /** Failures from one address before it waits (default 20). */
  readonly perIp?: number;
  /** Failures for one user name from all addresses together before it waits (default 100). */
  readonly perUserAllIps?: number;
  /** First wait; it doubles with each further failure (default 1 s). */
  readonly baseDelayMs?: number;
  /** Longest wait, and how long failures are remembered (default 15 min). */
  readonly maxDelayMs?: number;
}

export interface WebOptions {
  readonly config: Config;
  readonly store: SessionStore;
  readonly bus: LiveBus;
  readonly registry: LiveSessionsView;
  readonly metrics: () => MetricsSnapshot;
  readonly log: Logger;
  readonly host: string;
  readonly port: number;
  /**
   * Serve HTTPS with this certificate; cookies are then marked Secure (as they are with an https
   * `http.public_url` from the config, which also sets trusted proxies and accepted Host names).
   */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /**
   * A file to keep API tokens in (only hashes), or null for memory only (tokens are lost at
   * restart). Default (auth/token-keepers.ts): `<sqlite store file>.tokens.json` for a SQLite
   * file, the store's own database for a PostgreSQL store, memory for an in-memory store.
   */
  readonly tokensFile?: string | null;
  /** Folder of the built dashboard (index.html, assets/). Default: dist/web-ui of this package. */
  readonly assetsDir?: string;
  readonly loginLimits?: LoginLimits;
  /** Dashboard sign-in lifetime without activity (default 8 h). */
  readonly sessionIdleMs?: number;
  /** SSE keep-alive comment interval (default 15 s). */
  readonly heartbeatMs?: number;
  /** For tests: the clock (ms since the epoch). */
  readonly now?: () => number;
}

export interface RunningWeb {
  /** host:port the server listens on. */
  readonly address: string;
  /** The base URL it is reached at directly, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** The URL users open: http.public_url when set, otherwise `url`. */
  readonly publicUrl: string;
  close(): Promise<void>;
}

/** Who is asking: a signed-in dashboard user or an API token acting as a user. */
export interface Principal {
  readonly user: string;
  readonly roles: readonly string[];
  readonly via: 'session' | 'token';
  /**
   * The id of the sign-in or API token the request came with: what it opens (live streams) ends
   * when that credential does.
   */
  readonly credentialId: string;
  /** Dashboard sign-ins only: the CSRF token the browser must echo on state-changing requests. */
  readonly csrf?: string;
}

/** Names one credential across both kinds (a sign-in and a token id could be equal). */
export function credentialKey(via: Principal['via'], id: string): string {
  return `${via}:${id}`;
}

/** auditor and admin see every session; admin may also end sessions and manage tokens. */
export function seesAll(p: Principal): boolean {
  return p.roles.includes('admin') || p.roles.includes('auditor');
}

export function isAdmin(p: Principal): boolean {
  return p.roles.includes('admin');
}

/** Whether `p` may see a session of `owner`. */
export function canSee(p: Principal, owner: string): boolean {
  return seesAll(p) || p.user === owner;
}
