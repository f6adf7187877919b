/**
 * The API token file beside a SQLite store (data/dbtape.db → data/dbtape.db.tokens.json): mode
 * 0600, `{"version": 1, "tokens": [...]}`, only hashes. Every change rewrites it whole and
 * replaces it atomically (write a temp file, rename).
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ApiTokenRecord } from '../../store/session-store.js';
import type { TokenKeeper } from './token-keepers.js';

interface TokenFileDoc {
  readonly version: 1;
  readonly tokens: ApiTokenRecord[];
}

export class TokenFileError extends Error {
  readonly code = 'DBTAPE_TOKENS_FILE';
  override name = 'TokenFileError';
}

export class FileTokenKeeper implements TokenKeeper {
  readonly persistent = true;
  /** What the file holds, in its order; replaced only once a write succeeded. */
  private tokens: readonly ApiTokenRecord[] = [];

  constructor(readonly file: string) {}

  get where(): string {
    return this.file;
  }

  async load(): Promise<ApiTokenRecord[]> {
    this.tokens = existsSync(this.file) ? readTokenFile(this.file) : [];
    return [...this.tokens];
  }

  async add(token: ApiTokenRecord): Promise<void> {
    this.write([...this.tokens, token]);
  }

  async remove(id: string): Promise<void> {
    this.write(this.tokens.filter((t) => t.id !== id));
  }

  private write(tokens: readonly ApiTokenRecord[]): void {
    const doc: TokenFileDoc = { version: 1, tokens: [...tokens] };
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
    this.tokens = tokens;
  }
}

function readTokenFile(file: string): ApiTokenRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TokenFileError(
      `dbtape: cannot read the API token file ${file}: ${(err as Error).message}; fix or remove it (removing revokes every token)`,
    );
  }
  const tokens = (doc as Partial<TokenFileDoc> | null)?.tokens;
  if (!Array.isArray(tokens) || !tokens.every(isToken)) {
    throw new TokenFileError(
      `dbtape: the API token file ${file} is not in the expected form; fix or remove it (removing revokes every token)`,
    );
  }
  return tokens;
}

function isToken(t: unknown): t is ApiTokenRecord {
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
