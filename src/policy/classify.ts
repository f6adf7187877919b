/**
 * `classify(sql, dialect)`: what every statement of a (possibly multi-statement) text does, from the
 * real parsers, cached by exact text and by literal-free key (cache-key.ts) so that repeated
 * statements cost a Map lookup.
 */
import { BULK_INSERT_MIN_LENGTH, bulkInsert } from './bulk-insert.js';
import { literalFreeKey } from './cache-key.js';
import type { Classification, StatementInfo } from './classification.js';
import type { LiteralUse } from './info-builder.js';
import { GenerationalCache } from './lru.js';
import { classifyMysqlAst } from './mysql-classify.js';
import { classifyMysqlFallback } from './mysql-fallback.js';
import { withoutSignedIntWords } from './mysql-parser-gaps.js';
import { mysqlStatements } from './mysql-text.js';
import { type MysqlAst, parseMysql, parsePostgres } from './parsers.js';
import { classifyPgStatement } from './pg-classify.js';
import type { Dialect } from './sql-lexer.js';

export type { Dialect } from './sql-lexer.js';

/** Entries per cache generation (two generations per cache). */
const GENERATION = 2048;
/** Longer texts (bulk INSERTs) are classified every time rather than pinned in memory. */
const MAX_CACHED_LENGTH = 16 * 1024;

const exact = {
  postgres: new GenerationalCache<string, Classification>(GENERATION),
  mysql: new GenerationalCache<string, Classification>(GENERATION),
};
const byKey = {
  postgres: new GenerationalCache<string, Classification>(GENERATION),
  mysql: new GenerationalCache<string, Classification>(GENERATION),
};

export interface ClassifyOptions {
  /**
   * MySQL session with NO_BACKSLASH_ESCAPES (server status flag 0x0200 in OK packets): backslashes in
   * strings then mean something else to the server than to the parser, so texts holding one fail.
   */
  readonly noBackslashEscapes?: boolean;
}

export function classify(sql: string, dialect: Dialect, options?: ClassifyOptions): Classification {
  if (options?.noBackslashEscapes && dialect === 'mysql' && sql.includes('\\')) {
    return { parsed: false, reason: 'a backslash while the session has NO_BACKSLASH_ESCAPES' };
  }
  const cacheable = sql.length <= MAX_CACHED_LENGTH;
  if (cacheable) {
    const hit = exact[dialect].get(sql);
    if (hit) return hit;
  }
  const k = cacheable ? literalFreeKey(sql, dialect) : null;
  if (k) {
    const hit = byKey[dialect].get(k.key);
    if (hit) return hit;
  }
  const result = dialect === 'postgres' ? classifyPostgres(sql, k?.spans) : classifyMysql(sql, k?.spans);
  if (cacheable) {
    exact[dialect].set(sql, result.classification);
    if (k && result.keyable) byKey[dialect].set(k.key, result.classification);
  }
  return result.classification;
}

/** For tests and benchmarks: forget every cached classification. */
export function clearClassifyCache(): void {
  for (const c of [exact.postgres, exact.mysql, byKey.postgres, byKey.mysql]) c.clear();
}

interface Outcome {
  readonly classification: Classification;
  /** May be stored under the literal-free key. */
  readonly keyable: boolean;
}

function unparsed(reason: string): Outcome {
  return { classification: { parsed: false, reason }, keyable: false };
}

/**
 * Text the client's bytes did not decode to cleanly: the server may read those bytes (in a multi-byte
 * client encoding such as GBK or SJIS) as something else than what the parser saw.
 */
const REPLACEMENT = '\ufffd';

function classifyPostgres(sql: string, spans: readonly number[] | undefined): Outcome {
  if (sql.includes(REPLACEMENT)) return unparsed('the text is not valid UTF-8');
  const bulk = sql.length >= BULK_INSERT_MIN_LENGTH ? bulkInsert(sql, 'postgres') : null;
  if (bulk)
    return { classification: { parsed: true, statements: [bulk], literalSensitive: false }, keyable: false };
  const parsed = parsePostgres(sql);
  if (!parsed.ok) return unparsed(parsed.reason);
  const literals: LiteralUse = { used: false };
  const statements = (parsed.tree.stmts ?? []).map((s) => classifyPgStatement(s.stmt, literals));
  const classification: Classification = { parsed: true, statements, literalSensitive: literals.used };
  const keyable = !literals.used && spans !== undefined && spansAreConstants(sql, spans, parsed.tree);
  return { classification, keyable };
}

/**
 * Every blanked span must start a constant in the parse tree: then the lexer and the server agree on
 * it. Parser locations are byte offsets, equal to character offsets only for ASCII text.
 */
function spansAreConstants(sql: string, spans: readonly number[], tree: unknown): boolean {
  if (/[^\x00-\x7f]/.test(sql)) return false;
  const locations = new Set<number>();
  collectConstLocations(tree, locations);
  return spans.every((s) => locations.has(s) || locations.has(minusBefore(sql, s)));
}

/**
 * The grammar folds a unary minus into the constant after it (`abalance + -2345` holds the constant
 * -2345, gram.y doNegate, and so does NumericOnly) and reports that constant at the sign. A constant
 * located at a `-` is therefore the one whose token follows the sign: the span. Only blanks may come
 * between (`\v` is no blank to servers before 16); -1 when no `-` precedes.
 */
function minusBefore(sql: string, s: number): number {
  let p = s - 1;
  for (;;) {
    const c = sql.charCodeAt(p);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    p--;
  }
  return sql.charCodeAt(p) === 45 ? p : -1;
}

function collectConstLocations(v: unknown, out: Set<number>): void {
  if (Array.isArray(v)) {
    for (const x of v) collectConstLocations(x, out);
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  for (const [k, child] of Object.entries(v)) {
    if (k === 'A_Const' && typeof child === 'object' && child !== null) {
      const loc = (child as { location?: unknown }).location;
      if (typeof loc === 'number') out.add(loc);
    } else collectConstLocations(child, out);
  }
}

function classifyMysql(sql: string, spans: readonly number[] | undefined): Outcome {
  if (sql.includes(REPLACEMENT)) return unparsed('the text is not valid UTF-8');
  const bulk = sql.length >= BULK_INSERT_MIN_LENGTH ? bulkInsert(sql, 'mysql') : null;
  if (bulk)
    return { classification: { parsed: true, statements: [bulk], literalSensitive: false }, keyable: false };
  const texts = mysqlStatements(sql);
  if (!texts.ok) return unparsed(texts.reason);
  const literals: LiteralUse = { used: false };
  const counter = { literals: 0 };
  const statements: StatementInfo[] = [];
  for (const code of texts.statements) {
    const r = classifyMysqlCode(code, literals, counter);
    if (!r.ok) return unparsed(r.reason);
    statements.push(r.info);
  }
  const classification: Classification = { parsed: true, statements, literalSensitive: literals.used };
  // With executable comments the statements are several readings of the text: no span accounting.
  const keyable =
    !literals.used && spans !== undefined && !sql.includes('/*') && counter.literals === spans.length;
  return { classification, keyable };
}

type CodeOutcome = { ok: true; info: StatementInfo } | { ok: false; reason: string };

function classifyMysqlCode(code: string, literals: LiteralUse, counter: { literals: number }): CodeOutcome {
  const bulk = code.length >= BULK_INSERT_MIN_LENGTH ? bulkInsert(code, 'mysql') : null;
  if (bulk) return { ok: true, info: bulk };
  const first = /^[A-Za-z_]+/.exec(code)?.[0]?.toLowerCase();
  // SHOW's many forms are read from tokens everywhere, so all of them behave alike.
  const parsed = first === 'show' ? null : parseMysqlTolerant(code);
  if (parsed?.ok) {
    const info = classifyMysqlAst(parsed.tree, literals);
    if (info) {
      counter.literals += countLiterals(parsed.tree);
      return { ok: true, info };
    }
  }
  const nested = (text: string): StatementInfo[] | null => {
    const inner = mysqlStatements(text);
    if (!inner.ok) return null;
    const out: StatementInfo[] = [];
    for (const c of inner.statements) {
      const r = classifyMysqlCode(c, literals, counter);
      if (!r.ok) return null;
      out.push(r.info);
    }
    return out;
  };
  const info = classifyMysqlFallback(code, literals, nested);
  if (info) return { ok: true, info };
  return { ok: false, reason: parsed && !parsed.ok ? parsed.reason : 'statement not recognised' };
}

/** The parser, and again on the same text past the grammar's known gaps (mysql-parser-gaps.ts). */
function parseMysqlTolerant(code: string): ReturnType<typeof parseMysql> {
  const parsed = parseMysql(code);
  if (parsed.ok) return parsed;
  const rewritten = withoutSignedIntWords(code);
  return rewritten === null ? parsed : parseMysql(rewritten);
}

const LITERAL_TYPES = new Set(['number', 'single_quote_string', 'double_quote_string', 'string']);

function countLiterals(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + countLiterals(x), 0);
  if (typeof v !== 'object' || v === null) return 0;
  const o = v as MysqlAst;
  let n = typeof o.type === 'string' && LITERAL_TYPES.has(o.type) ? 1 : 0;
  for (const child of Object.values(o))
    if (typeof child === 'object' && child !== null) n += countLiterals(child);
  return n;
}
