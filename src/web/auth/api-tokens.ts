/**
 * API tokens for scripts and the CLI (`Authorization: Bearer dbtape_...`). An admin creates one
 * for a dbtape user; the token acts as that user with the roles the config gives the user at the
 * time of each request (remove the user and the token stops working). Only a SHA-256 of each
 * token is kept: in memory for the lookup of each request, and through a TokenKeeper
 * (token-keepers.ts) where it outlives a restart: a file beside a SQLite store, or a PostgreSQL
 * store's own database. A change is reported only once the keeper holds it, so a token the API
 * returned survives a restart; when the keeper fails, a new token is not created, and a revoked one
 * is refused all the same (the admin meant it, and the write may have been applied although it
 * reported a failure) until it is revoked again or dbtape restarts. A revocation is reported
 * through `onEnd`, so that what the token opened (live streams) ends with it. A token may expire;
 * one that does is refused but stays listed (with its date) until an admin deletes it.
 */
import { randomBytes } from 'node:crypto';
import type { ApiTokenRecord } from '../../store/session-store.js';
import { hashToken } from './sign-ins.js';
import { type TokenKeeper, TokenKeeperError } from './token-keepers.js';

export const TOKEN_PREFIX = 'dbtape_';

export type ApiToken = ApiTokenRecord;

export interface ApiTokenOptions {
  /** Called with the id of a token that is revoked. */
  readonly onEnd?: (id: string) => void;
  /** The clock (ms since the epoch); default Date.now. */
  readonly now?: () => number;
}

/** The longest lifetime a token may be given, in days (about ten years). */
export const MAX_TOKEN_DAYS = 3650;
const DAY_MS = 86_400_000;

export class ApiTokens {
  private readonly byHash = new Map<string, ApiToken>();
  private readonly lastUsed = new Map<string, string>();
  /** Revocations being written: their tokens are refused already. */
  private readonly revoking = new Map<string, Promise<boolean>>();
  /** Revocations the keeper did not confirm: refused, and still listed so that a retry can finish them. */
  private readonly unsaved = new Set<string>();

  /** The keeper's tokens, loaded once (its errors surface here). */
  static async open(keeper: TokenKeeper, o: ApiTokenOptions = {}): Promise<ApiTokens> {
    const tokens = new ApiTokens(keeper, o);
    for (const t of await keeper.load()) tokens.byHash.set(t.hash, t);
    return tokens;
  }

  /** Empty (ApiTokens.open loads what the keeper holds); MEMORY_TOKENS keeps nothing. */
  constructor(
    private readonly keeper: TokenKeeper,
    private readonly o: ApiTokenOptions = {},
  ) {}

  /**
   * Creates a token, valid for `expiresInDays` (1 to MAX_TOKEN_DAYS) or, without it, until revoked;
   * the secret is returned once and never kept. Rejects with DBTAPE_TOKENS_WRITE_FAILED, creating
   * nothing, when the keeper cannot hold it.
   */
  async create(
    name: string,
    user: string,
    createdBy: string,
    expiresInDays?: number,
  ): Promise<{ token: string; info: ApiToken }> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const now = this.now();
    const info: ApiToken = {
      id: randomBytes(6).toString('hex'),
      name,
      user,
      createdBy,
      createdAt: new Date(now).toISOString(),
      hash: hashToken(token),
      ...(expiresInDays !== undefined
        ? { expiresAt: new Date(now + expiresInDays * DAY_MS).toISOString() }
        : {}),
    };
    try {
      await this.write('save', () => this.keeper.add(info));
    } catch (err) {
      // A write can fail after it committed (a store connection lost during COMMIT): take the row
      // out again, or it would stay listed although its secret was never handed out.
      this.keeper.remove(info.id).catch(() => {});
      throw err;
    }
    this.byHash.set(info.hash, info);
    return { token, info };
  }

  /** The token's record (check `expired`), or null for an unknown token. */
  lookup(token: string): ApiToken | null {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const info = this.byHash.get(hashToken(token)) ?? null;
    if (!info || this.refused(info.id)) return null;
    if (!this.expired(info)) this.lastUsed.set(info.id, new Date(this.now()).toISOString());
    return info;
  }

  expired(t: ApiToken): boolean {
    return t.expiresAt !== undefined && Date.parse(t.expiresAt) <= this.now();
  }

  /** Whether the token with this id still works; not a use (a stream asks at every heartbeat). */
  valid(id: string): boolean {
    const t = this.find(id);
    return t !== null && !this.refused(id) && !this.expired(t);
  }

  list(): (ApiToken & { lastUsedAt: string | null })[] {
    return [...this.byHash.values()].map((t) => ({ ...t, lastUsedAt: this.lastUsed.get(t.id) ?? null }));
  }

  /**
   * Deletes the token: false when there is none. It is refused from the call on, and stays refused
   * when the keeper cannot delete it (rejecting with DBTAPE_TOKENS_WRITE_FAILED): the keeper may
   * still hold it, so it would work again after a restart unless revoked again.
   */
  revoke(id: string): Promise<boolean> {
    const pending = this.revoking.get(id);
    if (pending) return pending;
    const t = this.find(id);
    if (!t) return Promise.resolve(false);
    const run = (async () => {
      try {
        await this.write('delete', () => this.keeper.remove(id));
      } catch (err) {
        if (!this.unsaved.has(id)) {
          this.unsaved.add(id);
          this.o.onEnd?.(id);
        }
        throw err;
      } finally {
        this.revoking.delete(id);
      }
      this.byHash.delete(t.hash);
      this.lastUsed.delete(id);
      // A revocation that failed before ended the token's streams already.
      if (!this.unsaved.delete(id)) this.o.onEnd?.(id);
      return true;
    })();
    this.revoking.set(id, run);
    return run;
  }

  get persistent(): boolean {
    return this.keeper.persistent;
  }

  /** Where tokens are kept, for the log. */
  get where(): string {
    return this.keeper.where;
  }

  private refused(id: string): boolean {
    return this.revoking.has(id) || this.unsaved.has(id);
  }

  private find(id: string): ApiToken | null {
    // A linear scan: an admin creates tokens by hand, there are few.
    for (const t of this.byHash.values()) if (t.id === id) return t;
    return null;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private async write(what: 'save' | 'delete', fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      throw new TokenKeeperError(
        'DBTAPE_TOKENS_WRITE_FAILED',
        `dbtape: could not ${what} the API token in ${this.where}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
}
