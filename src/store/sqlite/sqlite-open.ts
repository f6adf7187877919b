/** Opening a SQLite store file: pragmas and migrations. */
import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Keyring } from '../../integrity/keyring.js';
import type { CheckpointSigner } from '../../integrity/signing-key.js';
import { StoreError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';

export type Synchronous = 'normal' | 'full';

export interface SqliteOpenOptions {
  /**
   * 'normal' (the default, for both durability modes): WAL commits are not fsynced at commit; a
   * power loss can lose the last commits, a process crash cannot. Strict durability calls
   * SessionStore.sync(), which fdatasyncs the WAL off the event loop (wal-sync.ts). 'full':
   * every commit is fsynced inside the commit, blocking the event loop meanwhile.
   */
  readonly synchronous?: Synchronous;
  /**
   * Durable writes may block the calling thread on fsync (WalSync.syncNow) instead of waiting
   * for libuv's thread pool: set by the store's worker thread, never on the proxy's.
   */
  readonly inlineSync?: boolean;
  /**
   * This store is the recording's one writer (dbtape serve's store thread): durable batches go
   * through the strict-mode journal, and it applies the journal, including what a crashed writer
   * left. Any other writable opener (`dbtape keys rotate`, possibly while serve runs) leaves the
   * journal alone, so it never moves events under the running writer's chain.
   */
  readonly journal?: boolean;
  /** Open an existing store for reading only (the CLI's read commands). */
  readonly readonly?: boolean;
  /**
   * The master keyring (store.encryption_key_file): new sessions are encrypted, encrypted ones
   * can be read. Without it, encrypted recordings cannot be read and the store refuses to be
   * opened for writing once it holds any.
   */
  readonly keyring?: Keyring | null;
  /** Signs checkpoints (store.signing_key_file); without it none are written. */
  readonly signer?: CheckpointSigner | null;
}

export function openDatabase(path: string, options: SqliteOpenOptions): Database.Database {
  const memory = path === ':memory:';
  let db: Database.Database;
  try {
    if (!memory && !options.readonly) createPrivately(path);
    db = new Database(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
    });
  } catch (err) {
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      `dbtape: cannot open the session store at ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      // Keep the WAL from growing without bound between checkpoints.
      db.pragma('journal_size_limit = 67108864');
    }
    db.pragma('busy_timeout = 5000');
    db.pragma('temp_store = MEMORY');
    migrate(db, path, options.readonly ?? false);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * A new store is readable by its owner only: it holds statement text and captured rows. SQLite
 * gives the -wal and -shm files it creates the database file's permissions, so creating that file
 * first, 0600, covers them too (folders dbtape creates are 0700). An existing store keeps the
 * permissions its administrator gave it.
 */
export function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * What createPrivately and SQLite would meet at `path`, checked without creating anything (for
 * check-config, so that a store serve cannot create or write is found before serve starts): an
 * existing store must be a file this process may read and write, in a folder where SQLite may
 * create its -wal and -shm files; otherwise the nearest existing folder must let it create the
 * folders and the file. Throws DBTAPE_STORE_OPEN_FAILED saying which.
 */
export function checkCreatable(path: string): void {
  const fail = (why: string): never => {
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      `dbtape: cannot write the session store at ${path}: ${why}`,
    );
  };
  const access = (at: string, mode: number): void => {
    try {
      accessSync(at, mode);
    } catch (err) {
      fail((err as Error).message);
    }
  };
  for (let at = path; ; at = dirname(at)) {
    let isFile: boolean;
    try {
      const st = statSync(at);
      if (at === path ? !st.isFile() : !st.isDirectory())
        fail(`${at} is not a ${at === path ? 'file' : 'folder'}`);
      isFile = st.isFile();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      if (dirname(at) === at) fail('no folder of its path exists');
      continue;
    }
    if (isFile) access(path, constants.R_OK | constants.W_OK);
    access(isFile ? dirname(path) : at, constants.W_OK | constants.X_OK);
    return;
  }
}

function migrate(db: Database.Database, path: string, readonly: boolean): void {
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  const current = (): number => {
    const exists = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
      .get();
    if (!exists) return 0;
    const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
    return row.v ?? 0;
  };
  const version = current();
  if (version > latest) {
    throw new StoreError(
      'DBTAPE_STORE_SCHEMA_TOO_NEW',
      `dbtape: the session store at ${path} has schema version ${version}, newer than this dbtape knows (${latest}); upgrade dbtape`,
    );
  }
  if (version === latest) return;
  if (readonly) {
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      `dbtape: the session store at ${path} needs a schema upgrade (version ${version} to ${latest}); run dbtape serve once, or open it writable`,
    );
  }
  db.transaction(() => {
    // Re-check inside the write lock: another process may have migrated meanwhile.
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_us INTEGER NOT NULL)',
    );
    const inside = current();
    const record = db.prepare('INSERT INTO schema_version (version, name, applied_at_us) VALUES (?, ?, ?)');
    for (const m of MIGRATIONS) {
      if (m.version <= inside) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now() * 1000);
    }
  }).immediate();
}
