/**
 * Secret redaction for recorded statements, applied before anything is queued for the store.
 * The rules are in redact-rules.ts; this file holds the public API, the hot-path shortcut and
 * the fail-closed behaviour (see docs/recording.md, "Redaction").
 */
import { type Analysis, analyse, redactEmbedded } from './redact-rules.js';
import { looksSecret, MASK, MIGHT_NEED_REDACTION } from './redact-text.js';
import type { Dialect } from './sql-tokenizer.js';

export { MASK, redactMessage } from './redact-text.js';
export type { Dialect } from './sql-tokenizer.js';

/** What replaces a statement that could not be understood but may carry a password. */
export const REDACTED_STATEMENT = '/* dbtape: statement redacted: it may contain a password */';

export interface StatementRedaction {
  readonly sql: string;
  /** null stays null; secret values become MASK. Same array as given when nothing changed. */
  readonly params: readonly (string | null)[] | undefined;
  /** Values that were masked, to mask their echo in a later error or notice message. */
  readonly secrets: readonly string[];
  /** The whole statement was replaced by REDACTED_STATEMENT (fail-closed). */
  readonly redactedWhole: boolean;
}

const UNCHANGED: Analysis = { sql: '', changed: false, secretParams: new Set(), secrets: [] };
const CACHE_LIMIT = 512;
const caches: Record<Dialect, Map<string, Analysis | null>> = { postgres: new Map(), mysql: new Map() };

/** Masks secrets in one statement text (which may hold several `;`-separated statements). */
export function redactSql(sql: string, dialect: Dialect = 'postgres'): string {
  return redactStatement(sql, undefined, dialect).sql;
}

/** Masks bound parameters that sit in a secret position of `sql`, or that carry credentials themselves. */
export function redactParams(
  sql: string,
  params: readonly (string | null)[],
  dialect: Dialect = 'postgres',
): readonly (string | null)[] {
  return redactStatement(sql, params, dialect).params ?? params;
}

export function redactStatement(
  sql: string,
  params: readonly (string | null)[] | undefined,
  dialect: Dialect = 'postgres',
): StatementRedaction {
  const analysis = MIGHT_NEED_REDACTION.test(sql) ? cachedAnalysis(sql, dialect) : UNCHANGED;
  if (analysis === null) {
    // The tokenizer could not make sense of it: fail closed if it might carry a password.
    if (looksSecret(sql)) {
      return { sql: REDACTED_STATEMENT, params: maskAll(params), secrets: [], redactedWhole: true };
    }
    return withParams(sql, [], params, UNCHANGED, dialect);
  }
  const text = analysis.changed ? analysis.sql : sql;
  return withParams(text, analysis.secrets, params, analysis, dialect);
}

function withParams(
  sql: string,
  secrets: readonly string[],
  params: readonly (string | null)[] | undefined,
  analysis: Analysis,
  dialect: Dialect,
): StatementRedaction {
  if (params === undefined || params.length === 0) return { sql, params, secrets, redactedWhole: false };
  let out: (string | null)[] | null = null;
  let found: string[] | null = null;
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (v === null || v === undefined) continue;
    let next = v;
    if (analysis.secretParams === 'all' || analysis.secretParams.has(i)) next = MASK;
    else if (looksSecret(v)) next = redactEmbedded(v, dialect, 1, []);
    if (next !== v) {
      out ??= params.slice();
      out[i] = next;
      found ??= [...secrets];
      found.push(v);
    }
  }
  if (out === null) return { sql, params, secrets, redactedWhole: false };
  return { sql, params: out, secrets: found!.sort((a, b) => b.length - a.length), redactedWhole: false };
}

function maskAll(params: readonly (string | null)[] | undefined): readonly (string | null)[] | undefined {
  return params?.map((v) => (v === null ? null : MASK));
}

/** Prepared statements repeat: remember the analysis of recent texts (tokenizing is the costly part). */
function cachedAnalysis(sql: string, dialect: Dialect): Analysis | null {
  const cache = caches[dialect];
  const hit = cache.get(sql);
  if (hit !== undefined || cache.has(sql)) return hit ?? null;
  const result = analyse(sql, dialect);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  if (sql.length <= 16_384) cache.set(sql, result);
  return result;
}

/**
 * Masks a text cell (a result value, a parameter of an unrelated statement) that mentions a
 * password: a `SHOW CREATE USER` line, a conninfo, a user-mapping option array.
 */
export function redactValue(text: string, dialect: Dialect = 'postgres'): string {
  return looksSecret(text) ? redactEmbedded(text, dialect, 1, []) : text;
}
