/**
 * The literal-free cache key (cache-key.ts) in one pass without token objects, for the common shape
 * of statement text: ASCII, no comments, no backslashes, no dollar quotes, no prefixed strings.
 *
 * It is a copy of sql-lexer.ts's `Lexer.next` in which every branch either does exactly what the
 * lexer does, or gives up (returns UNSURE) so that the caller runs the lexer itself. So it never
 * yields a key the lexer-based `literalFreeKey` would not: test/unit/policy-cache-key.test.ts checks
 * that on corpora and on random texts. Giving up is always safe; when in doubt, give up. A change to
 * the lexer's rules needs the same change here (or a new reason to give up).
 */
import type { LiteralFreeKey } from './cache-key.js';
import {
  C_AMP,
  C_AT,
  C_BACKSLASH,
  C_BACKTICK,
  C_DOLLAR,
  C_DOT,
  C_DQUOTE,
  C_HASH,
  C_MINUS,
  C_QUOTE,
  C_SLASH,
  C_STAR,
} from './char-codes.js';
import { type Dialect, numberEnd } from './sql-lexer.js';

/** The scanner does not know; run the lexer. */
export const UNSURE = undefined;

/** Same placeholder as cache-key.ts. */
const HOLE = '\u0000';

/** What a character starting a token means here (one table per dialect, ASCII only). */
const OP = 0; // a one-character operator, `;`, `,`, `(`, ...: nothing to do
const GIVE_UP = 1;
const SPACE = 2;
const WORD = 3;
const DIGIT = 4;
const QUOTE = 5;
const QIDENT = 6;
const DOLLAR = 7;
const MINUS = 8;
const SLASH = 9;
const DOT = 10;

function classTable(dialect: Dialect): Uint8Array {
  const t = new Uint8Array(128);
  for (const c of ' \t\n\r\f\v') t[c.charCodeAt(0)] = SPACE;
  for (let c = 65; c <= 90; c++) t[c] = t[c + 32] = WORD;
  t[95] = WORD;
  for (let c = 48; c <= 57; c++) t[c] = DIGIT;
  t[C_QUOTE] = QUOTE;
  t[C_MINUS] = MINUS;
  t[C_SLASH] = SLASH;
  t[C_DOT] = DOT;
  // NUL is the key's placeholder (cache-key.ts refuses such texts). A backslash outside a string is
  // an operator to the lexer, but MySQL reads `\N` as NULL: not worth the thought.
  t[0] = GIVE_UP;
  t[C_BACKSLASH] = GIVE_UP;
  if (dialect === 'mysql') {
    t[C_DOLLAR] = WORD;
    t[C_BACKTICK] = QIDENT;
    // `"...`: a string or, under ANSI_QUOTES, an identifier; `#`: a comment.
    t[C_DQUOTE] = GIVE_UP;
    t[C_HASH] = GIVE_UP;
  } else {
    t[C_DOLLAR] = DOLLAR;
    t[C_DQUOTE] = QIDENT;
  }
  return t;
}
const CLASSES = { postgres: classTable('postgres'), mysql: classTable('mysql') };

/** Identifier characters after the first (sql-lexer.ts isIdentPart), ASCII only. */
const IDENT_PART = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  IDENT_PART[c] =
    (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || (c >= 48 && c <= 57) || c === C_DOLLAR
      ? 1
      : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** sql-lexer.ts `precededByWordChar`, for a text known to be ASCII up to `start`. */
/**
 * Where the quoted string or identifier opened at `start` by `quote` ends (the index after its
 * closing quote; a doubled quote is part of it), or UNSURE: unterminated, NUL, non-ASCII, or a
 * backslash in a string (its meaning depends on the dialect and settings).
 */
function closingQuote(sql: string, start: number, quote: number): number | typeof UNSURE {
  const n = sql.length;
  let j = start + 1;
  for (;;) {
    if (j >= n) return UNSURE;
    const d = sql.charCodeAt(j);
    if (d === quote) {
      if (sql.charCodeAt(j + 1) !== quote) return j + 1;
      j += 2;
    } else if (d === 0 || d >= 128 || (d === C_BACKSLASH && quote === C_QUOTE)) return UNSURE;
    else j++;
  }
}

function precededByWordChar(s: string, start: number): boolean {
  if (start === 0) return false;
  const p = s.charCodeAt(start - 1);
  return IDENT_PART[p] === 1 || p === C_AMP || p === C_AT;
}

/**
 * The key `literalFreeKey` gives `sql`: the key, null (no key), or UNSURE (ask the lexer). Never a
 * different key. Every character from 128 on gives up: the lexer reads them as identifier
 * characters, and PostgreSQL keys need ASCII anyway (classify.ts).
 */
export function fastLiteralFreeKey(sql: string, dialect: Dialect): LiteralFreeKey | null | undefined {
  const classes = CLASSES[dialect];
  const pg = dialect === 'postgres';
  const n = sql.length;
  let key = '';
  let at = 0;
  const spans: number[] = [];
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c >= 128) return UNSURE;
    switch (classes[c]) {
      case OP:
        // `*/` closes an executable comment only when one is open, and none can be (`/*` gave up);
        // `;` ends one's reading likewise.
        i++;
        continue;
      case SPACE:
        i++;
        continue;
      case GIVE_UP:
        return UNSURE;
      case MINUS:
        // `--`: a comment (PostgreSQL) or maybe one (MySQL).
        if (sql.charCodeAt(i + 1) === C_MINUS) return UNSURE;
        i++;
        continue;
      case SLASH:
        if (sql.charCodeAt(i + 1) === C_STAR) return UNSURE;
        i++;
        continue;
      case WORD: {
        // Lexer.word.
        let j = i + 1;
        let d = sql.charCodeAt(j);
        while (d < 128 && IDENT_PART[d] === 1) d = sql.charCodeAt(++j);
        // Past the end d is NaN: neither test holds.
        if (d >= 128) return UNSURE;
        // A prefixed or glued string (E'', B'', X'', N'', _utf8'', U&'', U&""): give up.
        if (d === C_QUOTE || (pg && d === C_AMP)) return UNSURE;
        i = j;
        continue;
      }
      case QUOTE: {
        // Lexer.quoted(start, start, mysql, true); a backslash: give up.
        const j = closingQuote(sql, i, C_QUOTE);
        if (j === UNSURE) return UNSURE;
        if (!precededByWordChar(sql, i)) {
          key += `${sql.slice(at, i)}${HOLE}`;
          at = j;
          spans.push(i);
        }
        i = j;
        continue;
      }
      case QIDENT: {
        // Lexer.ident(start, start, c): PostgreSQL `"`, MySQL backtick.
        const j = closingQuote(sql, i, c);
        if (j === UNSURE) return UNSURE;
        i = j;
        continue;
      }
      case DOLLAR: {
        // PostgreSQL `$1` (Lexer.dollar); a dollar quote or a lone `$`: give up.
        let j = i + 1;
        if (!isDigit(sql.charCodeAt(j))) return UNSURE;
        while (isDigit(sql.charCodeAt(j))) j++;
        i = j;
        continue;
      }
      case DOT:
        if (!isDigit(sql.charCodeAt(i + 1))) {
          i++;
          continue;
        }
        break;
      case DIGIT:
        break;
    }
    // Lexer.number: digits, a fraction, an exponent; anything glued on makes it not plain.
    let j = numberEnd(sql, i);
    let plain = true;
    let d = sql.charCodeAt(j);
    while (d < 128 && (IDENT_PART[d] === 1 || d === C_DOT)) {
      plain = false;
      d = sql.charCodeAt(++j);
    }
    if (d >= 128) return UNSURE;
    if (plain && !precededByWordChar(sql, i)) {
      key += `${sql.slice(at, i)}${HOLE}`;
      at = j;
      spans.push(i);
    }
    i = j;
  }
  if (spans.length === 0) return null;
  return { key: key + sql.slice(at), spans };
}
