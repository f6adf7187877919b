/**
 * `store.url` to a SessionStore, by scheme: `sqlite:PATH` (parent folders created),
 * `sqlite::memory:`, or `postgres://user[:password]@host[:port]/database` (`postgresql://` too).
 */
import { resolve } from 'node:path';
import { type Keyring, loadKeyring } from '../integrity/keyring.js';
import { type CheckpointSigner, loadSigner } from '../integrity/signing-key.js';
import { StoreError } from './errors.js';
import { displayPgUrl, isPostgresUrl } from './postgres/pg-connect.js';
import { PostgresSessionStore } from './postgres/pg-store.js';
import type { SessionStore } from './session-store.js';
import { checkCreatable } from './sqlite/sqlite-open.js';
import { type SqliteOpenOptions, SqliteSessionStore, type Synchronous } from './sqlite/sqlite-store.js';
import { lockSqliteWriter, type SqliteWriterLock } from './sqlite/writer-lock.js';

export type { Synchronous };

export interface OpenStoreOptions {
  /** 'full': every commit fsynced inside the commit (see SqliteOpenOptions); default 'normal'. */
  readonly synchronous?: Synchronous;
  /** Durable writes may block this thread on fsync (the store's worker thread only). */
  readonly inlineSync?: boolean;
  /**
   * The recording's one writer (`dbtape serve`): owns the strict-mode journal (SQLite, see
   * SqliteOpenOptions) or holds the writer lock (PostgreSQL, a second writer is refused).
   */
  readonly journal?: boolean;
  /** Read-only: for read commands; the store must exist and be at the current schema. */
  readonly readonly?: boolean;
  /** Master keyring: encrypt new recordings, read encrypted ones (integrity/keyring.ts). */
  readonly keyring?: Keyring | null;
  /** Checkpoint signing key (integrity/signing-key.ts). */
  readonly signer?: CheckpointSigner | null;
}

/**
 * Opens the store. A PostgreSQL store connects in the background: a failure to connect or open
 * is reported by its first call (use openStoreReady to have it here).
 */
export function openStore(url: string, options: OpenStoreOptions = {}): SessionStore {
  if (isPostgresUrl(url)) return new PostgresSessionStore(checkPgUrl(url), pgOptions(options));
  return openSqliteStoreFromUrl(url, options);
}

/** openStore, resolved once the store is usable: for `dbtape serve`, whose start should fail at once. */
export async function openStoreReady(url: string, options: OpenStoreOptions = {}): Promise<SessionStore> {
  if (isPostgresUrl(url)) return PostgresSessionStore.open(checkPgUrl(url), pgOptions(options));
  return openSqliteStoreFromUrl(url, options);
}

/** Whether `url` names a PostgreSQL store (callers outside store/ ask here, not postgres/). */
export { isPostgresUrl as isPostgresStoreUrl } from './postgres/pg-connect.js';

/**
 * Takes the recording writer's lock for `dbtape serve`, before anything is written: a SQLite
 * store's lock file (sqlite/writer-lock.ts); DBTAPE_STORE_LOCKED while another process holds it.
 * A PostgreSQL store takes its advisory lock as its writer opens, and a store in memory has no
 * other writer: null for both.
 */
export function lockStoreWriter(url: string): SqliteWriterLock | null {
  if (isPostgresUrl(url)) return null;
  const path = sqlitePathFromUrl(url);
  return path === ':memory:' ? null : lockSqliteWriter(path);
}

/**
 * Throws DBTAPE_STORE_URL_INVALID when `url` is no store URL dbtape can open, and for a SQLite
 * store DBTAPE_STORE_OPEN_FAILED when serve could not create or write its file (nothing is created).
 */
export function checkStoreUrl(url: string): void {
  if (isPostgresUrl(url)) {
    checkPgUrl(url);
    return;
  }
  const path = sqlitePathFromUrl(url);
  if (path !== ':memory:') checkCreatable(path);
}

function pgOptions(options: OpenStoreOptions) {
  return {
    readonly: options.readonly ?? false,
    writer: options.journal ?? false,
    keyring: options.keyring ?? null,
    signer: options.signer ?? null,
  };
}

function checkPgUrl(url: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed?.hostname || parsed.pathname.length <= 1) {
    // The URL may hold a password: show it without.
    throw new StoreError(
      'DBTAPE_STORE_URL_INVALID',
      `dbtape: store.url must look like postgres://user[:password]@host[:port]/database (got ${JSON.stringify(displayPgUrl(url).slice(0, 120))})`,
    );
  }
  return url;
}

/** Key files as the config names them (store.encryption_key_file, store.signing_key_file). */
export interface StoreKeyFiles {
  readonly encryptionKeyFile?: string | null;
  readonly signingKeyFile?: string | null;
}

/** The keys of the config's store, read from their files; absent files names give nulls. */
export function loadStoreKeys(files: StoreKeyFiles): Pick<OpenStoreOptions, 'keyring' | 'signer'> {
  return {
    keyring: files.encryptionKeyFile ? loadKeyring(files.encryptionKeyFile) : null,
    signer: files.signingKeyFile ? loadSigner(files.signingKeyFile) : null,
  };
}

/**
 * For read commands: opens the store read-only with the config's encryption key, so encrypted
 * recordings read transparently. `keyFiles.encryptionKeyFile` may be null: encrypted sessions
 * then fail to read with DBTAPE_STORE_ENCRYPTED, listing still works.
 */
export function openStoreForReading(url: string, keyFiles: StoreKeyFiles = {}): SessionStore {
  const keyring = keyFiles.encryptionKeyFile ? loadKeyring(keyFiles.encryptionKeyFile) : null;
  return openStore(url, { readonly: true, keyring });
}

/** The file of a `sqlite:` store URL. */
export function sqlitePathFromUrl(url: string): string {
  if (isPostgresUrl(url)) {
    // The URL may hold a password: never echo it.
    throw new StoreError(
      'DBTAPE_STORE_URL_INVALID',
      'dbtape: this store.url names a PostgreSQL store, not a SQLite file',
    );
  }
  const m = /^sqlite:(?:\/\/)?(.+)$/i.exec(url);
  if (!m) {
    throw new StoreError(
      'DBTAPE_STORE_URL_INVALID',
      `dbtape: store.url must look like sqlite:data/dbtape.db, sqlite::memory: or postgres://user@host:5432/dbtape (got ${JSON.stringify(url.slice(0, 80))})`,
    );
  }
  return m[1] === ':memory:' ? ':memory:' : resolve(m[1]!);
}

function openSqliteStoreFromUrl(url: string, options: SqliteOpenOptions): SqliteSessionStore {
  return new SqliteSessionStore(sqlitePathFromUrl(url), options);
}
