/**
 * `store.url` to a SessionStore: `sqlite:PATH` (parent folders created), `sqlite::memory:`.
 * `postgres://` is reserved for the PostgreSQL-backed store, not written yet.
 */
import { resolve } from 'node:path';
import { StoreError } from './errors.js';
import type { SessionStore } from './session-store.js';
import { type SqliteOpenOptions, SqliteSessionStore, type Synchronous } from './sqlite/sqlite-store.js';

export type { Synchronous };

export interface OpenStoreOptions {
  /** 'full' for durability: strict (every commit fsynced); default 'normal'. */
  readonly synchronous?: Synchronous;
  /** Read-only: for read commands; the store must exist and be at the current schema. */
  readonly readonly?: boolean;
}

export function openStore(url: string, options: OpenStoreOptions = {}): SessionStore {
  return openSqliteStoreFromUrl(url, options);
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
