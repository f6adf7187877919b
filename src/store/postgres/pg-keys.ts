/**
 * Encryption at rest in the PostgreSQL store: where it keeps the wrapped keys (session_keys,
 * store_keys) and the store's `encrypted` mark. The rules are store/session-keys.ts's.
 */
import { BlindIndex } from '../../integrity/blind-index.js';
import type { Keyring } from '../../integrity/keyring.js';
import {
  type DataKey,
  DataKeyCache,
  indexKey,
  rewrapDataKey,
  rewrapIndexKey,
  unwrapDataKey,
  type WrappedKey,
} from '../session-keys.js';
import type { Sql, TxSql } from './pg-connect.js';
import { byteaLit, intLit } from './pg-literals.js';

export class PgKeys {
  private readonly cache = new DataKeyCache();

  private constructor(
    /** The store holds encrypted recordings (set the first time a keyring wrote to it). */
    readonly encrypted: boolean,
    readonly index: BlindIndex | null,
    private readonly keyring: Keyring | null,
  ) {}

  static async load(sql: Sql, keyring: Keyring | null, writable: boolean): Promise<PgKeys> {
    const [state] = await sql`SELECT encrypted FROM integrity_state WHERE id = 1`;
    const stored = state?.encrypted === true;
    if (writable && keyring && !stored) await sql`UPDATE integrity_state SET encrypted = true WHERE id = 1`;
    let index: BlindIndex | null = null;
    if (keyring) {
      const [row] = await sql`SELECT key_version, wrapped FROM store_keys WHERE name = 'index'`;
      const { key, toStore } = indexKey(
        keyring,
        row ? { version: Number(row.key_version), wrapped: row.wrapped as Buffer } : null,
      );
      if (writable && toStore) {
        await sql`INSERT INTO store_keys (name, key_version, wrapped) VALUES ('index', ${toStore.version}, ${toStore.wrapped}) ON CONFLICT (name) DO NOTHING`;
      }
      index = new BlindIndex(key);
    }
    return new PgKeys(stored || (keyring !== null && writable), index, keyring);
  }

  /** Whether new sessions are encrypted. */
  get writesEncrypted(): boolean {
    return this.keyring !== null;
  }

  get ring(): Keyring | null {
    return this.keyring;
  }

  /** A stored session's data key from its session_keys row (null: the session is in clear). */
  sessionKey(sid: number, sessionId: string, stored: WrappedKey | null): DataKey | null {
    const cached = this.cache.get(sid);
    if (cached) return cached;
    if (!stored) return null;
    const dk = unwrapDataKey(this.keyring, stored, sessionId);
    this.cache.set(sid, dk);
    return dk;
  }

  remember(sid: number, dk: DataKey): void {
    this.cache.set(sid, dk);
  }

  forget(sid: number): void {
    this.cache.delete(sid);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  /** The data keys of the sessions a read is about to decrypt, loaded in one query. */
  async preload(sql: Sql | TxSql, sessions: readonly { sid: number; id: string }[]): Promise<void> {
    const missing = [
      ...new Map(sessions.filter((s) => !this.cache.get(s.sid)).map((s) => [s.sid, s])).values(),
    ];
    if (missing.length === 0) return;
    const rows =
      await sql`SELECT session_sid, key_version, wrapped FROM session_keys WHERE session_sid = ANY(string_to_array(${missing.map((s) => s.sid).join(',')}, ',')::bigint[])`;
    const byId = new Map(missing.map((s) => [s.sid, s.id]));
    for (const r of rows) {
      const sid = Number(r.session_sid);
      this.sessionKey(sid, byId.get(sid)!, { version: Number(r.key_version), wrapped: r.wrapped as Buffer });
    }
  }

  /**
   * The statements that re-wrap every data key (and the index key) under the keyring's current
   * master key, for the store to run as one transaction; the recordings are not touched.
   */
  static async rewrap(q: Sql, ring: Keyring): Promise<{ count: number; statements: string[] }> {
    const rows = await q<{ session_sid: number; key_version: number; wrapped: Buffer; id: string }[]>`
      SELECT k.session_sid, k.key_version, k.wrapped, s.id FROM session_keys k JOIN sessions s ON s.sid = k.session_sid`;
    const statements: string[] = [];
    for (const r of rows) {
      const w = rewrapDataKey(ring, { version: r.key_version, wrapped: r.wrapped }, r.id);
      if (!w) continue;
      statements.push(
        `UPDATE session_keys SET key_version = ${intLit(w.version)}, wrapped = ${byteaLit(w.wrapped)} WHERE session_sid = ${intLit(r.session_sid)}`,
      );
    }
    const [idx] = await q<{ key_version: number; wrapped: Buffer }[]>`
      SELECT key_version, wrapped FROM store_keys WHERE name = 'index'`;
    const w = idx ? rewrapIndexKey(ring, { version: idx.key_version, wrapped: idx.wrapped }) : null;
    if (w) {
      statements.push(
        `UPDATE store_keys SET key_version = ${intLit(w.version)}, wrapped = ${byteaLit(w.wrapped)} WHERE name = 'index'`,
      );
    }
    return { count: statements.length, statements };
  }
}
