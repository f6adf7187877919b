/**
 * What `dbtape verify` reads from a store: the records exactly as stored, hashes and all, with
 * nothing decoded or decrypted. A store implements it (store/sqlite/sqlite-integrity.ts); the
 * checks (integrity/verify*.ts) know nothing of SQL. Lists come in pages so that a store of any
 * size streams through.
 */
import type { SessionMeta } from '../model/session.js';

export interface StoredSession {
  /** The store's own ordering key (insertion order). */
  readonly sid: number;
  readonly meta: SessionMeta;
  readonly endedAtUs: number | null;
  readonly endReason: string | null;
  readonly statements: number;
  readonly errors: number;
  readonly events: number;
  readonly lastSeq: number;
  /** The application of the session's last `client` event, as the row lists it (not chained). */
  readonly reportedApplication: string | null;
  readonly headHash: Buffer | null;
  readonly seal: Buffer | null;
  readonly sealNo: number | null;
  /** The wrapped data key, when the session is encrypted. */
  readonly dataKey: {
    readonly version: number;
    readonly wrapped: Buffer;
    readonly fingerprint: Buffer;
  } | null;
}

export interface StoredEvent {
  readonly sid: number;
  readonly seq: number;
  readonly atUs: number;
  readonly offsetUs: number;
  readonly kind: string;
  readonly format: number;
  /** v1 JSON text (format 1) or the encrypted envelope (format 2), as stored. */
  readonly body: string | Buffer;
  readonly hash: Buffer | null;
  /**
   * Whether the statement failed, as stored (SQLite 1/0, PostgreSQL true/false); null while its
   * outcome is not known, and for events that are not statements. Not hashed: set once the
   * outcome arrives.
   */
  readonly failed: boolean | number | null;
}

export interface StoredCheckpoint {
  readonly no: number;
  readonly atUs: number;
  readonly keyId: string;
  readonly body: string;
  readonly hash: Buffer;
  readonly signature: Buffer;
}

export interface StoredState {
  /** Sessions with a lower sid were recorded before chaining existed. */
  readonly chainFromSid: number;
  readonly sealNo: number;
  readonly seal: Buffer | null;
  readonly checkpointNo: number;
  readonly checkpointHash: Buffer | null;
  readonly encrypted: boolean;
}

export interface IntegritySource {
  /**
   * Runs `fn` over one consistent view of the store (a read transaction), so that a store being
   * written meanwhile does not look damaged. One call per source.
   */
  snapshot<T>(fn: () => Promise<T>): Promise<T>;
  /** null when the store has no integrity head at all (damaged, or the row was deleted). */
  state(): Promise<StoredState | null>;
  sessionCount(): Promise<number>;
  /**
   * Strict-mode batches durable in the store's journal but not yet moved into its tables (and so
   * not yet chained): a writer stopped before applying them, or is about to.
   */
  journaled(): Promise<number>;
  /** All sessions, by sid. */
  sessions(): AsyncIterable<StoredSession[]>;
  session(id: string): Promise<StoredSession | null>;
  /** Events by (sid, seq): of every session, or of one. */
  events(sid?: number): AsyncIterable<StoredEvent[]>;
  checkpoints(): AsyncIterable<StoredCheckpoint[]>;
  /** The stored hash of one event; undefined when the event does not exist. */
  eventHash(sessionId: string, seq: number): Promise<Buffer | null | undefined>;
  /** Public keys the store says signed its checkpoints (SPKI DER). */
  signingKeys(): Promise<{ keyId: string; publicKeyDer: Buffer }[]>;
}
