/**
 * `store.url` to a SessionStore: `sqlite:PATH` (parent folders created), `sqlite::memory:`.
 * `postgres://` is reserved for the PostgreSQL-backed store, not written yet.
 */
import { resolve } from 'node:path';
import { type Keyring, loadKeyring } from '../integrity/keyring.js';
import { type CheckpointSigner, loadSigner } from '../integrity/signing-key.js';
import { StoreError } from './errors.js';
import type { SessionStore } from './session-store.js';
import { type SqliteOpenOptions, SqliteSessionStore, type Synchronous } from './sqlite/sqlite-store.js';

export type { Synchronous };

export interface OpenStoreOptions {
  /** 'full': every commit fsynced inside the commit (see SqliteOpenOptions); default 'normal'. */
  readonly synchronous?: Synchronous;
  /** Durable writes may block this thread on fsync (the store's worker thread only). */
  readonly inlineSync?: boolean;
  /** The recording's one writer: owns the strict-mode journal (see SqliteOpenOptions). */
  readonly journal?: boolean;
  /** Read-only: for read commands; the store must exist and be at the current schema. */
  readonly readonly?: boolean;
  /** Master keyring: encrypt new recordings, read encrypted ones (integrity/keyring.ts). */
  readonly keyring?: Keyring | null;
  /** Checkpoint signing key (integrity/signing-key.ts). */
  readonly signer?: CheckpointSigner | null;
}

export function openStore(url: string, options: OpenStoreOptions = {}): SessionStore {
  return openSqliteStoreFromUrl(url, options);
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

export function sqlitePathFromUrl(url: string): string {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    // The URL may hold a password: never echo it.
    throw new StoreError(
      'DBTAPE_STORE_UNSUPPORTED',
      'dbtape: a PostgreSQL-backed session store (store.url postgres://...) is not supported yet; use store.url: sqlite:PATH',
    );
  }
  const m = /^sqlite:(?:\/\/)?(.+)$/i.exec(url);
  if (!m) {
    throw new StoreError(
      'DBTAPE_STORE_URL_INVALID',
      `dbtape: store.url must look like sqlite:data/dbtape.db or sqlite::memory: (got ${JSON.stringify(url.slice(0, 80))})`,
    );
  }
  return m[1] === ':memory:' ? ':memory:' : resolve(m[1]!);
}

function openSqliteStoreFromUrl(url: string, options: SqliteOpenOptions): SqliteSessionStore {
  return new SqliteSessionStore(sqlitePathFromUrl(url), options);
}
