/**
 * Token boundaries of PostgreSQL and MySQL/MariaDB statement text, as the servers see them. The policy
 * uses it to split MySQL text into statements, to turn MySQL executable comments into code, and to
 * build literal-free cache keys. It must agree with the server on where strings, comments and quoted
 * identifiers end: a disagreement there is how text is smuggled past a checker, so anything it is not
 * sure about is an error (the caller then fails closed).
 *
 * PostgreSQL: https://www.postgresql.org/docs/current/sql-syntax-lexical.html (src/backend/parser/scan.l),
 * assuming standard_conforming_strings = on (the policy refuses to turn it off).
 * MySQL: https://dev.mysql.com/doc/refman/8.0/en/comments.html and .../string-literals.html; MariaDB:
 * https://mariadb.com/kb/en/comment-syntax/ (`/*M!` executable comments, version numbers of 5-6 digits).
 */
import {
  C_AMP,
  C_AT,
  C_BACKSLASH,
  C_BACKTICK,
  C_BANG,
  C_CR,
  C_DOLLAR,
  C_DOT,
  C_DQUOTE,
  C_FF,
  C_HASH,
  C_LF,
  C_M,
  C_MINUS,
  C_PLUS,
  C_QMARK,
  C_QUOTE,
  C_SEMI,
  C_SLASH,
  C_SPACE,
  C_STAR,
  C_TAB,
  C_VT,
} from './char-codes.js';

export type Dialect = 'postgres' | 'mysql';

export type LexKind =
  | 'space'
  | 'comment'
  | 'word'
  | 'qident'
  | 'string'
  | 'number'
  | 'param'
  | 'op'
  | 'semi'
  /** MySQL: the opening `/*!12345` or closing `*\/` of an executable comment. */
  | 'exec';

export interface LexToken {
  readonly kind: LexKind;
  readonly start: number;
  readonly end: number;
  /**
   * string: a plain quoted literal whose content the policy may replace in a cache key (no prefix, no
   * backslash); number: a plain decimal literal not glued to an identifier.
   */
  readonly plain: boolean;
}

/** A MySQL/MariaDB executable comment: its content runs on the server (always, or by version). */
export interface ExecComment {
  readonly start: number;
  /** End of the opener (`/*!`, `/*!50001`, `/*M!100400`). */
  readonly openEnd: number;
  /** Start of the closing `*\/`. */
  readonly closeStart: number;
  readonly end: number;
  /** Version condition; null: executed by every server of its flavour. */
  readonly version: number | null;
  /** `/*M!`: MariaDB runs it, MySQL treats it as a comment. */
  readonly mariadbOnly: boolean;
}

export type LexResult =
  | { readonly ok: true; readonly tokens: readonly LexToken[]; readonly exec: readonly ExecComment[] }
  | { readonly ok: false; readonly reason: string };

class LexError extends Error {}

/** Receives each token as it is found; returns false to stop lexing. */
export type TokenSink = (kind: LexKind, start: number, end: number) => boolean;

class Stop extends Error {}

/**
 * Lexes without keeping tokens (for very large texts, where holding every token costs more than the
 * scan). Returns false when the text does not lex or the sink stopped early.
 */
export function lexEach(sql: string, dialect: Dialect, sink: TokenSink): boolean {
  try {
    const l = new Lexer(sql, dialect, sink);
    l.run();
    return l.exec.length === 0;
  } catch (err) {
    if (err instanceof LexError || err instanceof Stop) return false;
    throw err;
  }
}

export function lex(sql: string, dialect: Dialect): LexResult {
  try {
    const l = new Lexer(sql, dialect);
    l.run();
    return { ok: true, tokens: l.tokens, exec: l.exec };
  } catch (err) {
    if (err instanceof LexError) return { ok: false, reason: err.message };
    throw err;
  }
}

function isSpace(c: number): boolean {
  return c === C_SPACE || c === C_TAB || c === C_LF || c === C_CR || c === C_FF || c === C_VT;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
/**
 * Where a numeric literal's digits, fraction and exponent end (from `i`, at a digit or a `.` before
 * one). What may be glued on after it is the caller's to judge. Shared with fast-key.ts, which must
 * read numbers exactly as the lexer does.
 */
export function numberEnd(s: string, i: number): number {
  while (isDigit(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) === C_DOT) {
    i++;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  if ((s.charCodeAt(i) | 0x20) === 0x65) {
    let j = i + 1;
    const sign = s.charCodeAt(j);
    if (sign === C_PLUS || sign === C_MINUS) j++;
    if (isDigit(s.charCodeAt(j))) {
      i = j;
      while (isDigit(s.charCodeAt(i))) i++;
    }
  }
  return i;
}
function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === C_DOLLAR;
}

class Lexer {
  readonly tokens: LexToken[] = [];
  readonly exec: ExecComment[] = [];
  private pos = 0;
  private readonly my: boolean;
  /** The open executable comment: [start, openEnd, version, mariadbOnly, first raw `*\/` after it]. */
  private openExec: {
    start: number;
    openEnd: number;
    version: number | null;
    m: boolean;
    raw: number;
  } | null = null;

  constructor(
    private readonly s: string,
    dialect: Dialect,
    private readonly sink?: TokenSink,
  ) {
    this.my = dialect === 'mysql';
  }

  run(): void {
    const n = this.s.length;
    while (this.pos < n) this.next();
    if (this.openExec) throw new LexError('unterminated executable comment');
  }

  private push(kind: LexKind, start: number, plain?: boolean): void {
    if (this.sink) {
      if (!this.sink(kind, start, this.pos)) throw new Stop();
      return;
    }
    // One object shape for every token keeps the hot loop monomorphic.
    this.tokens.push({ kind, start, end: this.pos, plain: plain === true });
  }

  private next(): void {
    const s = this.s;
    const start = this.pos;
    const c = s.charCodeAt(start);
    const c2 = s.charCodeAt(start + 1);
    if (isSpace(c)) {
      let i = start + 1;
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      this.pos = i;
      this.push('space', start);
      return;
    }
    if (c === C_MINUS && c2 === C_MINUS && (!this.my || this.mysqlDashComment(start))) {
      this.line(start);
      return;
    }
    if (c === C_HASH && this.my) {
      this.line(start);
      return;
    }
    if (c === C_SLASH && c2 === C_STAR) {
      this.block(start);
      return;
    }
    if (c === C_STAR && c2 === C_SLASH && this.openExec) {
      this.closeExec(start);
      return;
    }
    if (c === C_QUOTE) {
      this.quoted(start, start, this.my, true);
      return;
    }
    if (c === C_DQUOTE) {
      if (this.my) this.mysqlDoubleQuoted(start);
      else this.ident(start, start, C_DQUOTE);
      return;
    }
    if (c === C_BACKTICK && this.my) {
      this.ident(start, start, C_BACKTICK);
      return;
    }
    if (c === C_DOLLAR && !this.my) {
      this.dollar(start);
      return;
    }
    if (c === C_SEMI && this.openExec) {
      // The server ends the statement here and reads what follows outside the comment, where the
      // closing `*/` is no longer a closer: the readings diverge.
      throw new LexError('semicolon inside an executable comment');
    }
    if (c === C_QMARK && this.my) {
      this.pos++;
      this.push('param', start);
      return;
    }
    if (isDigit(c) || (c === C_DOT && isDigit(c2))) {
      this.number(start);
      return;
    }
    if (isIdentStart(c) || (this.my && c === C_DOLLAR)) {
      this.word(start);
      return;
    }
    this.pos++;
    this.push(c === C_SEMI ? 'semi' : 'op', start);
  }

  /** MySQL needs a space or control character after `--` (MariaDB accepts DEL too). */
  private mysqlDashComment(start: number): boolean {
    if (start + 2 >= this.s.length) return true;
    const after = this.s.charCodeAt(start + 2);
    return after <= C_SPACE || after === 127;
  }

  /** PostgreSQL line comments end at CR or LF (scan.l `non_newline`); MySQL's only at LF. */
  private line(start: number): void {
    const s = this.s;
    let i = start + 1;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === C_LF || (!this.my && c === C_CR)) break;
      i++;
    }
    this.pos = i;
    this.push('comment', start);
  }

  private block(start: number): void {
    const s = this.s;
    if (this.my) {
      const c3 = s.charCodeAt(start + 2);
      if (c3 === C_BANG || (c3 === C_M && s.charCodeAt(start + 3) === C_BANG)) {
        this.openExecComment(start);
        return;
      }
      const close = s.indexOf('*/', start + 2);
      if (close === -1) throw new LexError('unterminated comment');
      this.pos = close + 2;
      this.push('comment', start);
      return;
    }
    // PostgreSQL block comments nest.
    let depth = 0;
    let i = start;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === C_SLASH && s.charCodeAt(i + 1) === C_STAR) {
        depth++;
        i += 2;
      } else if (c === C_STAR && s.charCodeAt(i + 1) === C_SLASH) {
        depth--;
        i += 2;
        if (depth === 0) break;
      } else i++;
    }
    if (depth !== 0) throw new LexError('unterminated comment');
    this.pos = i;
    this.push('comment', start);
  }

  /** `/*!`, `/*!NNNNN[N]`, `/*M!`, `/*M!NNNNNN`: the content is SQL (MariaDB reads 5-6 version digits). */
  private openExecComment(start: number): void {
    if (this.openExec) throw new LexError('nested executable comment');
    const s = this.s;
    const m = s.charCodeAt(start + 2) === C_M;
    let i = start + (m ? 4 : 3);
    let digits = 0;
    while (digits < 6 && isDigit(s.charCodeAt(i + digits))) digits++;
    let version: number | null = null;
    if (digits >= 5) {
      version = Number(s.slice(i, i + digits));
      i += digits;
    }
    this.pos = i;
    this.openExec = { start, openEnd: i, version, m, raw: s.indexOf('*/', i) };
    this.push('exec', start);
  }

  private closeExec(start: number): void {
    const o = this.openExec!;
    this.pos = start + 2;
    this.openExec = null;
    const conditional = o.version !== null || o.m;
    // A server that skips a conditional comment ends it at the first `*/`; when reading it as code
    // ends it elsewhere (a `*/` inside a string or comment), the two readings diverge.
    if (conditional && o.raw !== start) throw new LexError('ambiguous executable comment');
    this.exec.push({
      start: o.start,
      openEnd: o.openEnd,
      closeStart: start,
      end: this.pos,
      version: o.version,
      mariadbOnly: o.m,
    });
    this.push('exec', start);
  }

  /**
   * A quoted string whose opening quote is at `quoteAt`. `backslash`: backslash escapes the next
   * character (MySQL, PostgreSQL E''). `plain`: no prefix, so the token may be normalised.
   */
  private quoted(start: number, quoteAt: number, backslash: boolean, plainPrefix: boolean): void {
    const s = this.s;
    const q = s.charCodeAt(quoteAt);
    let sawBackslash = false;
    let i = quoteAt + 1;
    for (;;) {
      if (i >= s.length) throw new LexError('unterminated quoted string');
      const c = s.charCodeAt(i);
      if (c === C_BACKSLASH) {
        sawBackslash = true;
        i += backslash ? 2 : 1;
      } else if (c === q) {
        if (s.charCodeAt(i + 1) === q) i += 2;
        else {
          i++;
          break;
        }
      } else i++;
    }
    this.pos = i;
    this.push('string', start, plainPrefix && !sawBackslash && !this.precededByWordChar(start));
  }

  /**
   * MySQL `"..."` is a string, or an identifier under sql_mode ANSI_QUOTES, where backslash does not
   * escape. Both readings end at the same quote unless a backslash occurs, so that is refused.
   */
  private mysqlDoubleQuoted(start: number): void {
    const s = this.s;
    let i = start + 1;
    for (;;) {
      if (i >= s.length) throw new LexError('unterminated quoted string');
      const c = s.charCodeAt(i);
      if (c === C_BACKSLASH)
        throw new LexError('backslash in a double-quoted string (ambiguous under ANSI_QUOTES)');
      if (c === C_DQUOTE) {
        if (s.charCodeAt(i + 1) === C_DQUOTE) i += 2;
        else {
          i++;
          break;
        }
      } else i++;
    }
    this.pos = i;
    this.push('string', start);
  }

  private precededByWordChar(start: number): boolean {
    if (start === 0) return false;
    const p = this.s.charCodeAt(start - 1);
    // `&` (U&''), `@` (MySQL @'quoted user variable'): not a value.
    return isIdentPart(p) || p === C_AMP || p === C_AT;
  }

  private ident(start: number, quoteAt: number, q: number): void {
    const s = this.s;
    let i = quoteAt + 1;
    for (;;) {
      if (i >= s.length) throw new LexError('unterminated quoted identifier');
      if (s.charCodeAt(i) === q) {
        if (s.charCodeAt(i + 1) === q) {
          i += 2;
          continue;
        }
        i++;
        break;
      }
      i++;
    }
    this.pos = i;
    this.push('qident', start);
  }

  private word(start: number): void {
    const s = this.s;
    let i = start + 1;
    while (i < s.length && isIdentPart(s.charCodeAt(i))) i++;
    const len = i - start;
    const next = s.charCodeAt(i);
    if (next === C_QUOTE && len === 1) {
      const p = s.charCodeAt(start) | 0x20;
      // E'' (backslash escapes), B'' X'' N'' (and MySQL's b'' x'' n''): a prefixed string.
      if (p === 0x65 && !this.my) {
        this.quoted(start, i, true, false);
        return;
      }
      if (p === 0x62 || p === 0x78 || p === 0x6e) {
        this.quoted(start, i, this.my, false);
        return;
      }
    }
    if (!this.my && len === 1 && (s.charCodeAt(start) | 0x20) === 0x75 && next === C_AMP) {
      const q = s.charCodeAt(i + 1);
      if (q === C_QUOTE) {
        this.quoted(start, i + 1, false, false);
        return;
      }
      if (q === C_DQUOTE) {
        this.ident(start, i + 1, C_DQUOTE);
        return;
      }
    }
    this.pos = i;
    this.push('word', start);
  }

  /**
   * Digits, a fraction and an exponent. Anything glued to it (`1abc`, `0x1F`, `1_000`) is taken along
   * and the token is not "plain": servers of different versions read such text differently.
   */
  private number(start: number): void {
    const s = this.s;
    let i = numberEnd(s, start);
    let plain = true;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (!isIdentPart(c) && c !== C_DOT) break;
      plain = false;
      i++;
    }
    this.pos = i;
    if (this.my && !plain) {
      this.push('word', start);
      return;
    } // MySQL identifiers may start with digits
    this.push('number', start, plain && !this.precededByWordChar(start));
  }

  /** `$1` parameter, `$tag$ ... $tag$` dollar quoting (tag: identifier without `$`), or an operator `$`. */
  private dollar(start: number): void {
    const s = this.s;
    let i = start + 1;
    if (isDigit(s.charCodeAt(i))) {
      while (isDigit(s.charCodeAt(i))) i++;
      this.pos = i;
      this.push('param', start);
      return;
    }
    if (isIdentStart(s.charCodeAt(i))) {
      i++;
      while (i < s.length) {
        const c = s.charCodeAt(i);
        if (!isIdentStart(c) && !isDigit(c)) break;
        i++;
      }
    }
    if (s.charCodeAt(i) !== C_DOLLAR) {
      this.pos = start + 1;
      this.push('op', start);
      return;
    }
    const tag = s.slice(start, i + 1);
    const close = s.indexOf(tag, i + 1);
    if (close === -1) throw new LexError('unterminated dollar-quoted string');
    this.pos = close + tag.length;
    this.push('string', start);
  }
}

/** The text with every comment replaced by spaces (offsets kept), for parsers we feed code only. */
export function codeOnly(sql: string, tokens: readonly LexToken[], from = 0, to = tokens.length): string {
  let out = '';
  for (let i = from; i < to; i++) {
    const t = tokens[i]!;
    out += t.kind === 'comment' || t.kind === 'exec' ? ' ' : sql.slice(t.start, t.end);
  }
  return out;
}
