/**
 * Encryption at rest in the SQLite store: where it keeps the wrapped keys (session_keys,
 * store_keys) and the strict-mode journal's key. The rules are store/session-keys.ts's.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { KEY_BYTES, open, seal } from '../../integrity/aead.js';
import { BlindIndex } from '../../integrity/blind-index.js';
import { JOURNAL_BODY_AAD, JOURNAL_KEY_AAD } from '../../integrity/data-keys.js';
import type { Keyring } from '../../integrity/keyring.js';
import { encryptedStoreError } from '../errors.js';
import {
  type DataKey,
  DataKeyCache,
  decryptBody,
  encryptBody,
  indexKey,
  newDataKey,
  rewrapDataKey,
  rewrapIndexKey,
  unwrapDataKey,
} from '../session-keys.js';

export { type DataKey, FORMAT_CLEAR, FORMAT_ENCRYPTED } from '../session-keys.js';

export class StoreCrypto {
  /** The store holds encrypted recordings (set the first time a keyring wrote to it). */
  readonly encrypted: boolean;
  readonly index: BlindIndex | null;
  private readonly keys = new DataKeyCache();
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
    const { dk, stored } = newDataKey(this.keyring!, sessionId);
    this.insertKey!.run(sid, stored.version, stored.wrapped, dk.fingerprint);
    return dk;
  }

  /** The data key of a stored session, or null if the session is not encrypted. */
  sessionKey(sid: number, sessionId: string): DataKey | null {
    const cached = this.keys.get(sid);
    if (cached) return cached;
    const row = this.byId.get(sid) as { key_version: number; wrapped: Buffer } | undefined;
    if (!row) return null;
    const dk = unwrapDataKey(this.keyring, { version: row.key_version, wrapped: row.wrapped }, sessionId);
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
    return encryptBody(dk, sessionId, seq, json);
  }

  decryptBody(sid: number, sessionId: string, seq: number, envelope: Buffer): string {
    return decryptBody(this.sessionKey(sid, sessionId), sessionId, seq, envelope);
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
      const w = rewrapDataKey(ring, { version: r.key_version, wrapped: r.wrapped }, r.id);
      if (!w) continue;
      update.run(w.version, w.wrapped, r.session_sid);
      n++;
    }
    const idx = this.db.prepare("SELECT key_version, wrapped FROM store_keys WHERE name = 'index'").get() as
      | { key_version: number; wrapped: Buffer }
      | undefined;
    const w = idx ? rewrapIndexKey(ring, { version: idx.key_version, wrapped: idx.wrapped }) : null;
    if (w) {
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
    const { key, toStore } = indexKey(ring, row ? { version: row.key_version, wrapped: row.wrapped } : null);
    if (writable && toStore) {
      this.db
        .prepare("INSERT INTO store_keys (name, key_version, wrapped) VALUES ('index', ?, ?)")
        .run(toStore.version, toStore.wrapped);
    }
    return key;
  }
}
