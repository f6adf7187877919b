/**
 * The session store as every other layer sees it. No SQL dialect leaks through here, so a
 * PostgreSQL-backed store can implement it later without changing callers. Every method is
 * async for the same reason, although the SQLite implementation does its work synchronously.
 */
import type { Keyring } from '../integrity/keyring.js';
import type { IntegritySource } from '../integrity/source.js';
import type {
  EndReason,
  Protocol,
  SessionEvent,
  SessionEventKind,
  SessionId,
  SessionMeta,
} from '../model/session.js';

/** One group commit: everything in it is written in one transaction, or nothing is. */
export interface WriteBatch {
  /** Sessions to create; a session that already exists is left as it is. */
  readonly sessions: readonly SessionMeta[];
  /** Events in order; `seq` must be new for its session. Sessions must exist or be in `sessions`. */
  readonly events: readonly { readonly sessionId: SessionId; readonly event: SessionEvent }[];
  /** Session ends; the matching `end` event travels in `events`. */
  readonly ends: readonly SessionEnd[];
}

export interface SessionEnd {
  readonly sessionId: SessionId;
  readonly endedAtUs: number;
  readonly reason: EndReason;
}

export interface WriteOptions {
  /**
   * Make the batch survive power loss before resolving (fsync), whatever the store's default.
   * The store may keep it in a journal and index it later (the SQLite store does), as long as its
   * own reads see it at once and a crash loses none of it. Rejects with DBTAPE_STORE_SYNC_FAILED
   * when the batch was written but its fsync failed (its sequence numbers are then taken); with
   * any other error nothing was written.
   */
  readonly durable?: boolean;
}

export type SessionStatus = 'active' | 'ended';

/** A session row as listed; the field names follow the CLI's `--json` (see store/json.ts). */
export interface SessionSummary {
  readonly id: SessionId;
  readonly user: string;
  readonly roles: readonly string[];
  readonly target: string;
  readonly protocol: Protocol;
  readonly clientAddr: string;
  readonly clientPort: number;
  readonly application: string | null;
  readonly clientTls: string | null;
  readonly upstreamDatabase: string;
  readonly upstreamUser: string;
  readonly startedAtUs: number;
  readonly endedAtUs: number | null;
  readonly endReason: EndReason | null;
  /** query events recorded. */
  readonly statements: number;
  /** error events recorded. */
  readonly errors: number;
  /** Events stored, and the highest sequence number (they differ only if the store was damaged). */
  readonly events: number;
  readonly lastSeq: number;
  readonly status: SessionStatus;
}

/** Keyset cursor for paging `listSessions`: pass the last row of the previous page. */
export interface SessionCursor {
  readonly startedAtUs: number;
  readonly id: SessionId;
}

export interface SessionFilter {
  readonly user?: string;
  readonly target?: string;
  readonly protocol?: Protocol;
  /** Sessions active at or after this time: started since, still open, or ended since. */
  readonly sinceUs?: number;
  /** Sessions that started before this time. */
  readonly untilUs?: number;
  /** true: only sessions still open; false: only ended ones. */
  readonly active?: boolean;
  /** Only sessions with at least one error. */
  readonly hasErrors?: boolean;
  /** Default 100, at most 10,000. */
  readonly limit?: number;
  /** Rows strictly older than this cursor (newest first ordering). */
  readonly before?: SessionCursor;
}

export interface EventQuery {
  /** Events with seq > afterSeq (default 0: from the start). */
  readonly afterSeq?: number;
  /** Default 1,000, at most 100,000. */
  readonly limit?: number;
}

export interface SearchFilter {
  readonly user?: string;
  readonly target?: string;
  readonly protocol?: Protocol;
  /** Statements recorded at or after / before these times. */
  readonly sinceUs?: number;
  readonly untilUs?: number;
  /** Only statements whose outcome was an error. */
  readonly errors?: boolean;
  readonly sessionId?: SessionId;
  /** Default 50, at most 1,000. */
  readonly limit?: number;
}

/** Marks around matched terms in `SearchHit.snippet`; renderers turn them into highlighting. */
export const SNIPPET_MATCH_START = '\u0001';
export const SNIPPET_MATCH_END = '\u0002';

export interface SearchHit {
  readonly sessionId: SessionId;
  readonly seq: number;
  readonly atUs: number;
  readonly user: string;
  readonly target: string;
  /** 'query' for statements, 'denied' for statements policy refused. */
  readonly kind: Extract<SessionEventKind, 'query' | 'denied'>;
  readonly sql: string;
  readonly params?: readonly (string | null)[];
  /** Excerpt of sql (or params) with matches between SNIPPET_MATCH_START and SNIPPET_MATCH_END. */
  readonly snippet: string;
  /** true/false once the outcome is known; null while pending or unknown. */
  readonly failed: boolean | null;
}

/** What one signed checkpoint covered (integrity/checkpoint.ts). */
export interface CheckpointInfo {
  readonly no: number;
  /** Its hash, hex: worth logging, so that a copy exists outside the store. */
  readonly hash: string;
  /** Sessions sealed since the previous checkpoint that it lists. */
  readonly sessions: number;
  /** Open sessions whose chain heads it records. */
  readonly openSessions: number;
  /** The last seal number covered. */
  readonly sealedUpTo: number;
}

/**
 * A dashboard API token as a store keeps it (web/auth/api-tokens.ts): never the secret, only its
 * SHA-256. Times are ISO 8601 strings, as the API shows them.
 */
export interface ApiTokenRecord {
  readonly id: string;
  readonly name: string;
  /** The dbtape user the token acts as. */
  readonly user: string;
  readonly createdBy: string;
  readonly createdAt: string;
  /** SHA-256 of the token, base64url. */
  readonly hash: string;
  /** ISO time from which the token is refused; absent: never (so files from before expiry still load). */
  readonly expiresAt?: string;
}

export interface SessionStore {
  /**
   * Writes the batch in one transaction. Each event is hash-chained to the previous one of its
   * session and each ended session is sealed (integrity/chain.ts), and with an encryption key
   * bodies are encrypted, inside the store, so every writer goes through the same chain.
   */
  writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void>;
  /** Newest first. */
  listSessions(filter?: SessionFilter): Promise<SessionSummary[]>;
  getSession(id: SessionId): Promise<SessionSummary | null>;
  /** In sequence order. */
  getEvents(id: SessionId, query?: EventQuery): Promise<SessionEvent[]>;
  /** Full-text search over statement text and bound parameters; best match first. */
  search(text: string, filter?: SearchFilter): Promise<SearchHit[]>;
  /**
   * Ends every session still open (left so by a crash): appends an `end` event with `reason`
   * after its last event and marks it ended. Returns how many sessions it closed.
   */
  closeOpenSessions(reason: EndReason, atUs: number): Promise<number>;
  close(): Promise<void>;
  /**
   * Resolves once every batch committed before the call is durable (fsync). Optional. The strict
   * writer uses `durable: true` instead, and calls this only to retry an fsync that failed.
   * Rejects with DBTAPE_STORE_SYNC_FAILED: the batches are committed, but maybe not durable.
   */
  sync?(): Promise<void>;
  /**
   * Signs a checkpoint over the sessions sealed since the last one and the heads of the open
   * ones, if the store has a signing key and anything changed; null otherwise.
   */
  checkpoint?(atUs: number): Promise<CheckpointInfo | null>;
  /** The stored records as they are, for `dbtape verify`. */
  integrity?(): IntegritySource;
  /**
   * `dbtape keys rotate`: re-wraps every data key under the keyring's current master key, in
   * one transaction, without touching a recording. Returns how many keys were re-wrapped.
   */
  rewrapKeys?(keyring: Keyring): Promise<number>;
  /**
   * The dashboard's API tokens, for a store that keeps them in its own database (PostgreSQL, often
   * run where dbtape has no lasting files); oldest first. Absent, or null through a forwarding
   * store whose store lacks it: this store does not keep them (a SQLite store's live in a file
   * beside it, web/auth/token-file.ts).
   */
  loadApiTokens?(): Promise<ApiTokenRecord[] | null>;
  /** Adds a token; resolves once it is durable, rejects having kept nothing when it cannot be. */
  saveApiToken?(token: ApiTokenRecord): Promise<void>;
  /** Deletes a token, durably; an unknown id is no error. */
  deleteApiToken?(id: string): Promise<void>;
}
