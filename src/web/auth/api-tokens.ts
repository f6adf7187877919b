/**
 * API tokens for scripts and the CLI (`Authorization: Bearer dbtape_...`). An admin creates one
 * for a dbtape user; the token acts as that user with the roles the config gives the user at the
 * time of each request (remove the user and the token stops working). Only a SHA-256 of each
 * token is kept: in a JSON file (mode 0600) beside the SQLite store, or in memory when there is
 * no such file. The file is replaced atomically on every change. A revocation is reported through
 * `onEnd`, so that what the token opened (live streams) ends with it. A token may expire; one that
 * does is refused but stays listed (with its date) until an admin deletes it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hashToken } from './sign-ins.js';

export const TOKEN_PREFIX = 'dbtape_';

export interface ApiToken {
  readonly id: string;
  readonly name: string;
  /** The dbtape user the token acts as. */
  readonly user: string;
  readonly createdBy: string;
  readonly createdAt: string;
  /** SHA-256 of the token, base64url. */
  readonly hash: string;
  /** ISO time from which the token is refused; absent: never (so files from before expiry still load). */
  readonly expiresAt?: string;
}

interface TokenFile {
  readonly version: 1;
  readonly tokens: ApiToken[];
}

export class TokenFileError extends Error {
  readonly code = 'DBTAPE_TOKENS_FILE';
  override name = 'TokenFileError';
}

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

  /** `file` null: memory only. */
  constructor(
    private readonly file: string | null,
    private readonly o: ApiTokenOptions = {},
  ) {
    if (file && existsSync(file)) for (const t of readTokenFile(file)) this.byHash.set(t.hash, t);
  }

  /**
   * Creates a token, valid for `expiresInDays` (1 to MAX_TOKEN_DAYS) or, without it, until revoked;
   * the secret is returned once and never kept.
   */
  create(
    name: string,
    user: string,
    createdBy: string,
    expiresInDays?: number,
  ): { token: string; info: ApiToken } {
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
    this.byHash.set(info.hash, info);
    this.save();
    return { token, info };
  }

  /** The token's record (check `expired`), or null for an unknown token. */
  lookup(token: string): ApiToken | null {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const info = this.byHash.get(hashToken(token)) ?? null;
    if (info && !this.expired(info)) this.lastUsed.set(info.id, new Date(this.now()).toISOString());
    return info;
  }

  expired(t: ApiToken): boolean {
    return t.expiresAt !== undefined && Date.parse(t.expiresAt) <= this.now();
  }

  /** Whether the token with this id still works; not a use (a stream asks at every heartbeat). */
  valid(id: string): boolean {
    // A linear scan: an admin creates tokens by hand, there are few.
    for (const t of this.byHash.values()) if (t.id === id) return !this.expired(t);
    return false;
  }

  list(): (ApiToken & { lastUsedAt: string | null })[] {
    return [...this.byHash.values()].map((t) => ({ ...t, lastUsedAt: this.lastUsed.get(t.id) ?? null }));
  }

  revoke(id: string): boolean {
    for (const [hash, t] of this.byHash) {
      if (t.id === id) {
        this.byHash.delete(hash);
        this.lastUsed.delete(id);
        this.save();
        this.o.onEnd?.(id);
        return true;
      }
    }
    return false;
  }

  get persistent(): boolean {
    return this.file !== null;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private save(): void {
    if (!this.file) return;
    const doc: TokenFile = { version: 1, tokens: [...this.byHash.values()] };
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }
}

function readTokenFile(file: string): ApiToken[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TokenFileError(
      `dbtape: cannot read the API token file ${file}: ${(err as Error).message}; fix or remove it (removing revokes every token)`,
    );
  }
  const tokens = (doc as Partial<TokenFile> | null)?.tokens;
  if (!Array.isArray(tokens) || !tokens.every(isToken)) {
    throw new TokenFileError(
      `dbtape: the API token file ${file} is not in the expected form; fix or remove it (removing revokes every token)`,
    );
  }
  return tokens;
}

function isToken(t: unknown): t is ApiToken {
  if (typeof t !== 'object' || t === null) return false;
  const r = t as Record<string, unknown>;
  const expiresOk =
    r.expiresAt === undefined ||
    (typeof r.expiresAt === 'string' && Number.isFinite(Date.parse(r.expiresAt)));
  return (
    expiresOk &&
    ['id', 'name', 'user', 'createdBy', 'createdAt', 'hash'].every((k) => typeof r[k] === 'string')
  );
}
