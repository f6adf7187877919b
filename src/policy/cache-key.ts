/**
 * A cache key with the statement's plain literals blanked out, so `... WHERE aid = 17` and
 * `... WHERE aid = 42` share one classification (pgbench and client-side formatted queries would
 * otherwise parse every time).
 *
 * Why this is safe: two texts share a key only if they are identical outside the blanked spans, and
 * each span is a plain literal (`'...'` without prefix or backslash, or a bare decimal number not
 * glued to a name) whose extent both the lexer and the server determine the same way from the same
 * prefix. So the server reads both texts as the same token sequence up to literal values. A
 * classification is stored under the key only when no literal value influenced it, and (PostgreSQL)
 * when the parser confirmed that each span starts a constant (see classify.ts).
 */
import { fastLiteralFreeKey } from './fast-key.js';
import { type Dialect, lex } from './sql-lexer.js';

export interface LiteralFreeKey {
  readonly key: string;
  /** Character offsets where blanked literals start, in order. */
  readonly spans: readonly number[];
}

/** The placeholder cannot occur in PostgreSQL text, and texts holding it are not keyed at all. */
const HOLE = '\u0000';

/**
 * Null when the text has no plain literal, holds NUL, or does not lex. Common texts are keyed by a
 * single-pass scanner (fast-key.ts) that gives the same key as the lexer or declines.
 */
export function literalFreeKey(sql: string, dialect: Dialect): LiteralFreeKey | null {
  const fast = fastLiteralFreeKey(sql, dialect);
  return fast !== undefined ? fast : lexedLiteralFreeKey(sql, dialect);
}

/** The key from the lexer's tokens: the definition `fastLiteralFreeKey` is checked against. */
export function lexedLiteralFreeKey(sql: string, dialect: Dialect): LiteralFreeKey | null {
  if (sql.includes(HOLE)) return null;
  const r = lex(sql, dialect);
  if (!r.ok) return null;
  let key = '';
  let at = 0;
  const spans: number[] = [];
  for (const t of r.tokens) {
    if (!t.plain) continue;
    key += sql.slice(at, t.start) + HOLE;
    at = t.end;
    spans.push(t.start);
  }
  if (spans.length === 0) return null;
  return { key: key + sql.slice(at), spans };
}
