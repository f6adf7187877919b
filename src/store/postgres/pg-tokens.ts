/**
 * The dashboard's API tokens in the PostgreSQL store (table api_tokens, migration 2): read once
 * when the dashboard starts, written one token at a time as statements the store runs durably
 * (pg-store.ts), like its other writes.
 */
import type { ApiTokenRecord } from '../session-store.js';
import type { Sql } from './pg-connect.js';
import { textLit } from './pg-literals.js';

interface TokenRow {
  id: string;
  name: string;
  user_name: string;
  created_by: string;
  created_at: Date;
  hash: string;
  expires_at: Date | null;
}

/** In the order they were created, as the token file lists them. */
export async function loadPgTokens(sql: Sql): Promise<ApiTokenRecord[]> {
  const rows = await sql<TokenRow[]>`
    SELECT id, name, user_name, created_by, created_at, hash, expires_at
    FROM api_tokens ORDER BY added`;
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    user: r.user_name,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    hash: r.hash,
    ...(r.expires_at ? { expiresAt: r.expires_at.toISOString() } : {}),
  }));
}

export function insertTokenStatement(t: ApiTokenRecord): string {
  const values = [
    textLit(t.id),
    textLit(t.name),
    textLit(t.user),
    textLit(t.createdBy),
    timeLit(t.createdAt),
    textLit(t.hash),
    t.expiresAt === undefined ? 'NULL::timestamptz' : timeLit(t.expiresAt),
  ];
  return `INSERT INTO api_tokens (id, name, user_name, created_by, created_at, hash, expires_at) VALUES (${values.join(', ')})`;
}

export function deleteTokenStatement(id: string): string {
  return `DELETE FROM api_tokens WHERE id = ${textLit(id)}`;
}

/** An ISO time as timestamptz; checked here, so that no other text reaches the statement as one. */
function timeLit(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`not an ISO time: ${JSON.stringify(iso)}`);
  return `${textLit(new Date(ms).toISOString())}::timestamptz`;
}
