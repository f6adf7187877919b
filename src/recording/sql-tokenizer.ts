/**
 * A small lexical scanner for PostgreSQL and MySQL/MariaDB statement text, just enough for
 * secret redaction: it knows where strings, quoted identifiers, comments, dollar quotes and
 * placeholders begin and end, and decodes string contents. It does not parse grammar.
 *
 * PostgreSQL lexical rules: https://www.postgresql.org/docs/current/sql-syntax-lexical.html
 * MySQL string literals: https://dev.mysql.com/doc/refman/8.0/en/string-literals.html
 * MySQL comments (incl. executable `/*! ... *\/`): https://dev.mysql.com/doc/refman/8.0/en/comments.html
 */

export type Dialect = 'postgres' | 'mysql';

export type TokenKind =
  | 'space'
  | 'comment'
  | 'word'
  | 'qident'
  | 'string'
  | 'number'
  | 'param'
  | 'op'
  | 'semi';

/** How a string literal was written, so a modified one can be written back equivalently. */
export type StringStyle = 'std' | 'escape' | 'unicode' | 'dollar' | 'bits' | 'mysql';

export interface Token {
  readonly kind: TokenKind;
  readonly start: number;
  readonly end: number;
  /**
   * word: lower-cased text; qident: the name without quotes; string: decoded content;
   * op: the operator text; param: the placeholder text; others: raw text.
   */
  readonly value: string;
  readonly style?: StringStyle;
  /** 0-based index into the bound parameters, for `param` tokens. */
  readonly paramIndex?: number;
}

export type TokenizeResult =
  | { readonly ok: true; readonly tokens: Token[] }
  | { readonly ok: false; readonly reason: string };

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;
const SPACE = /\s/;

class Unterminated extends Error {}

/** Splits `sql` into tokens; fails (ok: false) on anything unterminated. */
export function tokenize(sql: string, dialect: Dialect): TokenizeResult {
  try {
    return { ok: true, tokens: new Scanner(sql, dialect).run() };
  } catch (err) {
    if (err instanceof Unterminated) return { ok: false, reason: err.message };
    throw err;
  }
}

class Scanner {
  private pos = 0;
  private readonly tokens: Token[] = [];
  private mysqlParams = 0;
  /** Inside a MySQL executable comment `/*! ... *\/`, whose content is SQL. */
  private inExecComment = false;

  constructor(
    private readonly s: string,
    private readonly dialect: Dialect,
  ) {}

  run(): Token[] {
    while (this.pos < this.s.length) this.next();
    if (this.inExecComment) throw new Unterminated('unterminated executable comment');
    return this.tokens;
  }

  private push(kind: TokenKind, start: number, value: string, extra?: Partial<Token>): Token {
    const token: Token = { kind, start, end: this.pos, value, ...extra };
    this.tokens.push(token);
    return token;
  }

  private next(): Token {
    const s = this.s;
    const start = this.pos;
    const c = s[start]!;
    const c2 = s[start + 1];
    if (SPACE.test(c)) {
      while (this.pos < s.length && SPACE.test(s[this.pos]!)) this.pos++;
      return this.push('space', start, s.slice(start, this.pos));
    }
    if (c === '-' && c2 === '-' && this.dashDashIsComment(start)) return this.lineComment(start);
    if (c === '#' && this.dialect === 'mysql') return this.lineComment(start);
    if (c === '/' && c2 === '*') return this.blockComment(start);
    if (c === '*' && c2 === '/' && this.inExecComment) {
      this.pos += 2;
      this.inExecComment = false;
      return this.push('space', start, '*/');
    }
    if (c === "'") return this.quoted(start, start, this.dialect === 'mysql' ? 'mysql' : 'std');
    if (c === '"') {
      if (this.dialect === 'mysql') return this.quoted(start, start, 'mysql');
      return this.quotedIdent(start, '"');
    }
    if (c === '`' && this.dialect === 'mysql') return this.quotedIdent(start, '`');
    if (c === '$' && this.dialect === 'postgres') return this.dollar(start);
    if (c === '?' && this.dialect === 'mysql') {
      this.pos++;
      return this.push('param', start, '?', { paramIndex: this.mysqlParams++ });
    }
    if (DIGIT.test(c) || (c === '.' && c2 !== undefined && DIGIT.test(c2))) return this.number(start);
    if (WORD_START.test(c)) return this.word(start);
    if (c === ';') {
      this.pos++;
      return this.push('semi', start, ';');
    }
    if ((c === '|' && c2 === '|') || (c === ':' && c2 === '=')) {
      this.pos += 2;
      return this.push('op', start, c + c2);
    }
    this.pos++;
    return this.push('op', start, c);
  }

  /** MySQL needs whitespace or a control character after `--`; PostgreSQL does not. */
  private dashDashIsComment(start: number): boolean {
    if (this.dialect === 'postgres') return true;
    const after = this.s[start + 2];
    return after === undefined || after <= ' ';
  }

  private lineComment(start: number): Token {
    const nl = this.s.indexOf('\n', start);
    this.pos = nl === -1 ? this.s.length : nl;
    return this.push('comment', start, this.s.slice(start, this.pos));
  }

  private blockComment(start: number): Token {
    const s = this.s;
    if (this.dialect === 'mysql') {
      const exec = /^\/\*(?:!|M!)(\d{5,6})?/.exec(s.slice(start, start + 12));
      if (exec && !this.inExecComment) {
        // Executable comment: the server runs its content, so we scan it as SQL.
        this.pos = start + exec[0].length;
        this.inExecComment = true;
        return this.push('space', start, exec[0]);
      }
      const close = s.indexOf('*/', start + 2);
      if (close === -1) throw new Unterminated('unterminated comment');
      this.pos = close + 2;
      return this.push('comment', start, s.slice(start, this.pos));
    }
    // PostgreSQL block comments nest.
    let depth = 0;
    let i = start;
    while (i < s.length) {
      if (s[i] === '/' && s[i + 1] === '*') {
        depth++;
        i += 2;
      } else if (s[i] === '*' && s[i + 1] === '/') {
        depth--;
        i += 2;
        if (depth === 0) break;
      } else i++;
    }
    if (depth !== 0) throw new Unterminated('unterminated comment');
    this.pos = i;
    return this.push('comment', start, s.slice(start, i));
  }

  private word(start: number): Token {
    const s = this.s;
    let i = start + 1;
    while (i < s.length && WORD_PART.test(s[i]!)) i++;
    const text = s.slice(start, i);
    const lower = text.toLowerCase();
    const q = s[i];
    if (this.dialect === 'postgres') {
      if (q === "'" && (lower === 'e' || lower === 'n' || lower === 'b' || lower === 'x')) {
        const style: StringStyle = lower === 'e' ? 'escape' : lower === 'n' ? 'std' : 'bits';
        return this.quoted(start, i, style);
      }
      if (lower === 'u' && s[i] === '&' && (s[i + 1] === "'" || s[i + 1] === '"')) {
        if (s[i + 1] === '"') return this.quotedIdent(start, '"', i + 1);
        return this.quoted(start, i + 1, 'unicode');
      }
    } else if (q === "'" && (lower === 'n' || lower === 'x' || lower === 'b')) {
      return this.quoted(start, i, lower === 'n' ? 'mysql' : 'bits');
    }
    this.pos = i;
    return this.push('word', start, lower);
  }

  private number(start: number): Token {
    const s = this.s;
    let i = start;
    while (i < s.length && /[0-9A-Za-z_.]/.test(s[i]!)) {
      // an exponent sign: 1e-5
      if ((s[i] === 'e' || s[i] === 'E') && (s[i + 1] === '-' || s[i + 1] === '+')) i++;
      i++;
    }
    this.pos = i;
    return this.push('number', start, s.slice(start, i));
  }

  /** A string literal whose opening quote is at `quoteAt` (prefix, if any, from `start`). */
  private quoted(start: number, quoteAt: number, style: StringStyle): Token {
    const s = this.s;
    const quote = s[quoteAt]!;
    const backslash = style === 'escape' || style === 'mysql';
    let out = '';
    let i = quoteAt + 1;
    for (;;) {
      if (i >= s.length) throw new Unterminated('unterminated string');
      const c = s[i]!;
      if (backslash && c === '\\') {
        if (i + 1 >= s.length) throw new Unterminated('unterminated string');
        const [text, used] = style === 'escape' ? decodePgEscape(s, i) : decodeMysqlEscape(s, i);
        out += text;
        i += used;
      } else if (c === quote) {
        if (s[i + 1] === quote) {
          out += quote;
          i += 2;
        } else {
          i++;
          break;
        }
      } else {
        out += c;
        i++;
      }
    }
    this.pos = i;
    if (style === 'unicode') out = decodeUnicodeEscapes(out, this.uescapeChar());
    return this.push('string', start, out, { style });
  }

  /** U&'...' UESCAPE '!' names another escape character than backslash. */
  private uescapeChar(): string {
    const m = /^\s*uescape\s*'(.)'/i.exec(this.s.slice(this.pos, this.pos + 40));
    return m ? m[1]! : '\\';
  }

  private quotedIdent(start: number, quote: string, quoteAt = start): Token {
    const s = this.s;
    let out = '';
    let i = quoteAt + 1;
    for (;;) {
      if (i >= s.length) throw new Unterminated('unterminated quoted identifier');
      if (s[i] === quote) {
        if (s[i + 1] === quote) {
          out += quote;
          i += 2;
          continue;
        }
        i++;
        break;
      }
      out += s[i];
      i++;
    }
    this.pos = i;
    return this.push('qident', start, out);
  }

  /** `$1` placeholder, `$tag$ ... $tag$` / `$$ ... $$` dollar quoting, or a lone `$`. */
  private dollar(start: number): Token {
    const s = this.s;
    const prev = this.tokens[this.tokens.length - 1];
    // `$` continuing an identifier (a$b) is part of the word already; here it starts a token.
    const m = /^\$(?:(\d+)|([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$)/.exec(
      s.slice(start, start + 80),
    );
    if (m?.[1] !== undefined) {
      this.pos = start + m[0].length;
      return this.push('param', start, m[0], { paramIndex: Number(m[1]) - 1 });
    }
    if (!m || (prev && prev.end === start && prev.kind === 'number')) {
      this.pos++;
      return this.push('op', start, '$');
    }
    const tag = m[0];
    const close = s.indexOf(tag, start + tag.length);
    if (close === -1) throw new Unterminated('unterminated dollar-quoted string');
    this.pos = close + tag.length;
    return this.push('string', start, s.slice(start + tag.length, close), { style: 'dollar' });
  }
}

/** One PostgreSQL E'' backslash escape at s[i] === '\\'; returns [text, characters consumed]. */
function decodePgEscape(s: string, i: number): [string, number] {
  const c = s[i + 1]!;
  const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  if (simple[c] !== undefined) return [simple[c]!, 2];
  let m = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4));
  if (m) return [String.fromCharCode(Number.parseInt(m[0], 8) & 0xff), 1 + m[0].length];
  m = /^x([0-9A-Fa-f]{1,2})/.exec(s.slice(i + 1, i + 4));
  if (m) return [String.fromCharCode(Number.parseInt(m[1]!, 16)), 1 + m[0].length];
  m = /^u([0-9A-Fa-f]{4})/.exec(s.slice(i + 1, i + 6));
  if (m) return [codePoint(Number.parseInt(m[1]!, 16)), 1 + m[0].length];
  m = /^U([0-9A-Fa-f]{8})/.exec(s.slice(i + 1, i + 10));
  if (m) return [codePoint(Number.parseInt(m[1]!, 16)), 1 + m[0].length];
  return [c, 2];
}

/** One MySQL backslash escape; `\%` and `\_` keep their backslash (LIKE patterns). */
function decodeMysqlEscape(s: string, i: number): [string, number] {
  const c = s[i + 1]!;
  const map: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };
  if (map[c] !== undefined) return [map[c]!, 2];
  if (c === '%' || c === '_') return ['\\' + c, 2];
  return [c, 2];
}

/** Decodes U&'' escapes: `\XXXX` and `\+XXXXXX` (with the chosen escape character). */
function decodeUnicodeEscapes(text: string, esc: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== esc) {
      out += text[i];
      continue;
    }
    if (text[i + 1] === esc) {
      out += esc;
      i++;
      continue;
    }
    const long = /^\+([0-9A-Fa-f]{6})/.exec(text.slice(i + 1, i + 8));
    const short = /^[0-9A-Fa-f]{4}/.exec(text.slice(i + 1, i + 5));
    if (long) {
      out += codePoint(Number.parseInt(long[1]!, 16));
      i += long[0].length;
    } else if (short) {
      out += codePoint(Number.parseInt(short[0], 16));
      i += 4;
    } else out += text[i];
  }
  return out;
}

function codePoint(n: number): string {
  return n <= 0x10ffff ? String.fromCodePoint(n) : '\ufffd';
}
