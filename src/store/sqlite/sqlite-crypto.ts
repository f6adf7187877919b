/**
 * Encryption at rest for the SQLite store: per-session data keys (AES-256, random) wrapped by
 * the master keyring, event bodies sealed with their session's key, and the search index key.
 * See docs/recording.md, "Encryption at rest".
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { KEY_BYTES, open, seal } from '../../integrity/aead.js';
import { BlindIndex } from '../../integrity/blind-index.js';
import {
  bodyAad,
  dataKeyAad,
  dataKeyFingerprint,
  INDEX_KEY_AAD,
  JOURNAL_BODY_AAD,
  JOURNAL_KEY_AAD,
} from '../../integrity/data-keys.js';
import type { Keyring } from '../../integrity/keyring.js';
import { encryptedStoreError } from '../errors.js';

/** Stored event format: v1 JSON text, or v1 JSON encrypted (envelope BLOB). */
export const FORMAT_CLEAR = 1;
export const FORMAT_ENCRYPTED = 2;

const READ_CACHE = 1024;

export interface DataKey {
  readonly key: Buffer;
  readonly fingerprint: Buffer;
}

export class StoreCrypto {
  /** The store holds encrypted recordings (set the first time a keyring wrote to it). */
  readonly encrypted: boolean;
  readonly index: BlindIndex | null;
  private readonly keys = new Map<number, DataKey>();
  /** This writer's journal key, made on first use, and its wrapped form (stored with each row). */
  private journalKey: { key: Buffer; version: number; wrapped: Buffer } | null = null;
  private readonly byId: Database.Statement;
  private readonly insertKey: Database.Statement | null;

  constructor(
    private readonly db: Database.Database,
    private readonly keyring: Keyring | null,
    writable: boolean,
  ) {
    const state = db.prepare('SELECT encrypted FROM integrity_state WHERE id = 1').get() as
      | { encrypted: number }
      | undefined;
    this.encrypted = state?.encrypted === 1 || (keyring !== null && writable);
    this.byId = db.prepare('SELECT key_version, wrapped FROM session_keys WHERE session_sid = ?');
    this.insertKey = writable
      ? db.prepare(
          'INSERT INTO session_keys (session_sid, key_version, wrapped, fingerprint) VALUES (?, ?, ?, ?)',
        )
      : null;
    if (writable && keyring && state?.encrypted !== 1) {
      db.prepare('UPDATE integrity_state SET encrypted = 1 WHERE id = 1').run();
    }
    this.index = keyring ? new BlindIndex(this.indexKey(keyring, writable)) : null;
  }

  /** Whether new sessions are encrypted. */
  get writesEncrypted(): boolean {
    return this.keyring !== null;
  }

  /** Makes and stores (inside the caller's transaction) the data key of a new session. */
  newSessionKey(sid: number, sessionId: string): DataKey {
    const key = randomBytes(KEY_BYTES);
    const dk = { key, fingerprint: dataKeyFingerprint(key) };
    const { version, wrapped } = this.keyring!.wrap(key, dataKeyAad(sessionId));
    this.insertKey!.run(sid, version, wrapped, dk.fingerprint);
    return dk;
  }

  /** The data key of a stored session, or null if the session is not encrypted. */
  sessionKey(sid: number, sessionId: string): DataKey | null {
    const cached = this.keys.get(sid);
    if (cached) return cached;
    const row = this.byId.get(sid) as { key_version: number; wrapped: Buffer } | undefined;
    if (!row) return null;
    if (!this.keyring) throw encryptedStoreError(`session ${sessionId}`);
    const key = this.keyring.unwrap(
      row.key_version,
      row.wrapped,
      dataKeyAad(sessionId),
      `the data key of session ${sessionId}`,
    );
    const dk = { key, fingerprint: dataKeyFingerprint(key) };
    if (this.keys.size >= READ_CACHE) this.keys.clear();
    this.keys.set(sid, dk);
    return dk;
  }

  remember(sid: number, dk: DataKey): void {
    this.keys.set(sid, dk);
  }

  forget(sid: number): void {
    this.keys.delete(sid);
  }

  forgetAll(): void {
    this.keys.clear();
  }

  encryptBody(dk: DataKey, sessionId: string, seq: number, json: string): Buffer {
    return seal(dk.key, json, bodyAad(sessionId, seq));
  }

  decryptBody(sid: number, sessionId: string, seq: number, envelope: Buffer): string {
    const dk = this.sessionKey(sid, sessionId);
    if (!dk) throw encryptedStoreError(`session ${sessionId}`);
    return open(dk.key, envelope, bodyAad(sessionId, seq), `event ${seq} of session ${sessionId}`).toString(
      'utf8',
    );
  }

  /**
   * Seals one strict-mode journal batch (sqlite-journal.ts) when new recordings are encrypted;
   * null when they are not (the batch is stored as it is).
   */
  sealJournal(plain: Buffer): { version: number; wrapped: Buffer; body: Buffer } | null {
    if (!this.keyring) return null;
    if (!this.journalKey) {
      const key = randomBytes(KEY_BYTES);
      this.journalKey = { key, ...this.keyring.wrap(key, JOURNAL_KEY_AAD) };
    }
    const { key, version, wrapped } = this.journalKey;
    return { version, wrapped, body: seal(key, plain, JOURNAL_BODY_AAD) };
  }

  /** The plain bytes of a journal row sealed by sealJournal, in this or an earlier process. */
  openJournal(version: number, wrapped: Buffer, body: Buffer): Buffer {
    if (!this.keyring) throw encryptedStoreError('the strict-mode journal');
    const key = this.keyring.unwrap(version, wrapped, JOURNAL_KEY_AAD, 'the journal key');
    return open(key, body, JOURNAL_BODY_AAD, 'a strict-mode journal batch');
  }

  /**
   * Re-wraps every data key (and the index key) under the keyring's current master key, in one
   * transaction; the recordings themselves are not touched. Returns how many keys were re-wrapped.
   */
  rewrap(ring: Keyring): number {
    const rows = this.db
      .prepare(
        'SELECT k.session_sid, k.key_version, k.wrapped, s.id FROM session_keys k JOIN sessions s ON s.sid = k.session_sid',
      )
      .all() as { session_sid: number; key_version: number; wrapped: Buffer; id: string }[];
    const update = this.db.prepare(
      'UPDATE session_keys SET key_version = ?, wrapped = ? WHERE session_sid = ?',
    );
    let n = 0;
    for (const r of rows) {
      if (r.key_version === ring.current) continue;
      const aad = dataKeyAad(r.id);
      const key = ring.unwrap(r.key_version, r.wrapped, aad, `the data key of session ${r.id}`);
      const w = ring.wrap(key, aad);
      update.run(w.version, w.wrapped, r.session_sid);
      n++;
    }
    const idx = this.db.prepare("SELECT key_version, wrapped FROM store_keys WHERE name = 'index'").get() as
      | { key_version: number; wrapped: Buffer }
      | undefined;
    if (idx && idx.key_version !== ring.current) {
      const key = ring.unwrap(idx.key_version, idx.wrapped, INDEX_KEY_AAD, 'the search index key');
      const w = ring.wrap(key, INDEX_KEY_AAD);
      this.db
        .prepare("UPDATE store_keys SET key_version = ?, wrapped = ? WHERE name = 'index'")
        .run(w.version, w.wrapped);
      n++;
    }
    return n;
  }

  private indexKey(ring: Keyring, writable: boolean): Buffer {
    const row = this.db.prepare("SELECT key_version, wrapped FROM store_keys WHERE name = 'index'").get() as
      | { key_version: number; wrapped: Buffer }
      | undefined;
    if (row) return ring.unwrap(row.key_version, row.wrapped, INDEX_KEY_AAD, 'the search index key');
    // A store that never held encrypted recordings has no index key yet; a reader can use any
    // key then (it will match nothing).
    const key = randomBytes(KEY_BYTES);
    if (writable) {
      const w = ring.wrap(key, INDEX_KEY_AAD);
      this.db
        .prepare("INSERT INTO store_keys (name, key_version, wrapped) VALUES ('index', ?, ?)")
        .run(w.version, w.wrapped);
    }
    return key;
  }
}
