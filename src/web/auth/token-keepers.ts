/**
 * Where the dashboard's API tokens outlive a restart (only their hashes): the JSON file beside a
 * SQLite store, the session store's own database for a PostgreSQL store (a containerised dbtape
 * often has no lasting files), or nowhere for an in-memory store. ApiTokens keeps them in memory
 * for its lookups and writes each change through a keeper before reporting it.
 */
import { isPostgresStoreUrl, sqlitePathFromUrl } from '../../store/open-store.js';
import type { ApiTokenRecord, SessionStore } from '../../store/session-store.js';
import { FileTokenKeeper } from './token-file.js';

export interface TokenKeeper {
  /** For logs and errors: the file, `session store` or `memory`; never a URL (it may hold a password). */
  readonly where: string;
  /** Whether tokens outlive the process. */
  readonly persistent: boolean;
  /** Every kept token, oldest first; called once, at start. */
  load(): Promise<ApiTokenRecord[]>;
  /** Resolves once `token` is kept durably; rejects, having kept nothing, when it cannot be. */
  add(token: ApiTokenRecord): Promise<void>;
  /** Resolves once the token is gone for good; an unknown id is no error. */
  remove(id: string): Promise<void>;
}

export class TokenKeeperError extends Error {
  override name = 'TokenKeeperError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Nothing survives the process: an in-memory store, or tests. */
export const MEMORY_TOKENS: TokenKeeper = {
  where: 'memory',
  persistent: false,
  load: async () => [],
  add: async () => {},
  remove: async () => {},
};

/** A store that keeps tokens itself (SessionStore.loadApiTokens): the PostgreSQL store. */
export class StoreTokenKeeper implements TokenKeeper {
  readonly where = 'session store';
  readonly persistent = true;

  constructor(private readonly store: SessionStore) {}

  async load(): Promise<ApiTokenRecord[]> {
    let tokens: ApiTokenRecord[] | null | undefined;
    try {
      tokens = await this.store.loadApiTokens?.();
    } catch (err) {
      throw new TokenKeeperError(
        'DBTAPE_TOKENS_LOAD',
        `dbtape: cannot read the API tokens from the session store: ${(err as Error).message}`,
      );
    }
    // A store that keeps none would drop every token written to it: refuse rather than pretend.
    if (!Array.isArray(tokens)) {
      throw new TokenKeeperError('DBTAPE_TOKENS_LOAD', 'dbtape: this session store cannot keep API tokens');
    }
    return tokens;
  }

  async add(token: ApiTokenRecord): Promise<void> {
    await this.store.saveApiToken!(token);
  }

  async remove(id: string): Promise<void> {
    await this.store.deleteApiToken!(id);
  }
}

export type TokenPlace =
  | { readonly kind: 'file'; readonly file: string }
  | { readonly kind: 'store' }
  | { readonly kind: 'memory' };

/**
 * Where the tokens of a dashboard on `storeUrl` live: beside a SQLite store file
 * (data/dbtape.db → data/dbtape.db.tokens.json), in a PostgreSQL store, or in memory with an
 * in-memory store. `tokensFile` (tests) overrides it: a file, or null for memory.
 */
export function tokenPlace(storeUrl: string, tokensFile?: string | null): TokenPlace {
  if (tokensFile !== undefined)
    return tokensFile === null ? { kind: 'memory' } : { kind: 'file', file: tokensFile };
  if (isPostgresStoreUrl(storeUrl)) return { kind: 'store' };
  let path: string;
  try {
    path = sqlitePathFromUrl(storeUrl);
  } catch {
    return { kind: 'memory' };
  }
  return path === ':memory:' ? { kind: 'memory' } : { kind: 'file', file: `${path}.tokens.json` };
}

export function tokenKeeper(place: TokenPlace, store: SessionStore): TokenKeeper {
  if (place.kind === 'file') return new FileTokenKeeper(place.file);
  if (place.kind === 'store') return new StoreTokenKeeper(store);
  return MEMORY_TOKENS;
}
