/**
 * The SQLite store's writer lock: only one `dbtape serve` may record into a store file, as the
 * PostgreSQL store's advisory lock ensures for its database. A second writer would take the first
 * one's live sessions for a crash's leftovers and end them (`proxy_crash`), and the two would then
 * write the same sessions' chains, so the first one's events fail to store and are lost.
 *
 * The lock is an exclusive transaction held open on a file of its own beside the store
 * (`PATH-lock`, empty): SQLite takes it with a POSIX lock, which the system releases when the
 * process ends however it ends, so a crash never leaves a stale lock. The store's own file cannot
 * carry it, since read commands (and `keys rotate`) must still open the store while serve runs.
 */
import Database from 'better-sqlite3';
import { StoreError } from '../errors.js';
import { createPrivately } from './sqlite-open.js';

export interface SqliteWriterLock {
  release(): void;
}

export function lockSqliteWriter(storePath: string): SqliteWriterLock {
  const lockPath = `${storePath}-lock`;
  let db: Database.Database;
  try {
    createPrivately(lockPath);
    // timeout 0: a lock another process holds is an answer, not something to wait for.
    db = new Database(lockPath, { timeout: 0 });
  } catch (err) {
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      `dbtape: cannot open the session store's lock file ${lockPath}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    // No journal file: nothing is ever written, and a crash would leave one behind. (This reads
    // the file, so it is refused too while another process holds the lock.)
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new StoreError(
        'DBTAPE_STORE_LOCKED',
        `dbtape: another dbtape serve is already recording into the session store at ${storePath} (it holds ${lockPath}); only one may write to a store: stop it, or give this one another store.url`,
      );
    }
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      `dbtape: cannot lock the session store at ${storePath}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return {
    release() {
      if (!db.open) return;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
