/**
 * The redaction rules, applied to the tokens of one statement text. A rule finds a secret
 * position (the value after `PASSWORD`, `IDENTIFIED BY`, `SET PASSWORD =`, ...) and masks the
 * literal there; string literals and comments anywhere are also checked for connection strings
 * and for embedded statements (dblink_exec('ALTER ROLE ...'), function bodies in $$ ... $$).
 */
import { looksSecret, MASK, maskAfterKeyword, maskConnectionStrings } from './redact-text.js';
import { type Dialect, type Token, tokenize } from './sql-tokenizer.js';

export interface Analysis {
  /** The statement text with secrets masked. */
  readonly sql: string;
  readonly changed: boolean;
  /** 0-based placeholders bound to a secret; 'all' for statements that carry secrets by nature. */
  readonly secretParams: ReadonlySet<number> | 'all';
  /** The masked values (decoded and as written), to mask their echo in server messages. */
  readonly secrets: readonly string[];
}

const QUOTED_MASK = `'${MASK}'`;
/** Words that can follow PASSWORD / IDENTIFIED BY without being a secret. */
const NOT_SECRET = new Set([
  'null',
  'default',
  'random',
  'expire',
  'history',
  'reuse',
  'require',
  'lock_time',
]);
const MAX_DEPTH = 3;

/** Null when the text cannot be tokenized (the caller decides how to fail closed). */
export function analyse(sql: string, dialect: Dialect, depth = 0): Analysis | null {
  const result = tokenize(sql, dialect);
  if (!result.ok) return null;
  const ctx = new Context(sql, result.tokens, dialect, depth);
  ctx.run();
  return ctx.finish();
}

export function isPasswordWord(lower: string): boolean {
  return (
    lower.endsWith('password') || lower === 'passwd' || lower === 'pwd' || lower === 'authentication_string'
  );
}

class Context {
  private readonly edits = new Map<Token, string>();
  private readonly secrets: string[] = [];
  private readonly params = new Set<number>();
  private allParams = false;

  constructor(
    private readonly sql: string,
    private readonly tokens: readonly Token[],
    private readonly dialect: Dialect,
    private readonly depth: number,
  ) {}

  run(): void {
    let stmt: Token[] = [];
    for (const t of this.tokens) {
      if (t.kind === 'semi') {
        this.statement(stmt);
        stmt = [];
      } else if (t.kind !== 'space' && t.kind !== 'comment') stmt.push(t);
    }
    this.statement(stmt);
    for (const t of this.tokens) {
      if (this.edits.has(t)) continue;
      if (t.kind === 'string' && looksSecret(t.value)) this.embedded(t);
      else if (t.kind === 'comment' && looksSecret(t.value)) this.comment(t);
    }
  }

  finish(): Analysis {
    if (this.edits.size === 0) {
      return {
        sql: this.sql,
        changed: false,
        secretParams: this.allParams ? 'all' : this.params,
        secrets: [],
      };
    }
    let out = '';
    let at = 0;
    for (const t of this.tokens) {
      const edit = this.edits.get(t);
      if (edit === undefined) continue;
      out += this.sql.slice(at, t.start) + edit;
      at = t.end;
    }
    out += this.sql.slice(at);
    const secrets = [...new Set(this.secrets.filter((s) => s.length > 0))].sort(
      (a, b) => b.length - a.length,
    );
    return { sql: out, changed: true, secretParams: this.allParams ? 'all' : this.params, secrets };
  }

  /** The rules that need statement context, on the significant tokens of one statement. */
  private statement(T: Token[]): void {
    if (T.length === 0) return;
    const w = (k: number): string => (T[k]?.kind === 'word' ? T[k]!.value : '');
    const createOrAlter = w(0) === 'create' || w(0) === 'alter';
    const role = createOrAlter && ['role', 'user', 'group'].includes(w(1)) && w(2) !== 'mapping';
    const setPassword = w(0) === 'set' && w(1) === 'password';
    // Statements that carry credentials by nature: all their parameters are treated as secret.
    if (
      (role && this.dialect === 'postgres') ||
      setPassword ||
      (createOrAlter && ['server', 'subscription', 'user'].includes(w(1))) ||
      (w(0) === 'change' && (w(1) === 'master' || w(1) === 'replication')) ||
      (w(0) === 'start' && (w(1) === 'slave' || w(1) === 'replica'))
    ) {
      this.allParams = true;
    }
    const bareRole = role && this.dialect === 'postgres';
    let identified = false;
    let setPasswordEq = false;
    for (let k = 0; k < T.length; k++) {
      const t = T[k]!;
      if (t.kind === 'word') {
        const v = t.value;
        if (v === 'identified' && ['by', 'with', 'via'].includes(w(k + 1))) {
          identified = true;
          this.allParams = true;
          continue;
        }
        if (
          (identified && ['by', 'as', 'using', 'replace'].includes(v)) ||
          (setPassword && v === 'replace')
        ) {
          this.value(T, k + 1, true, true);
          continue;
        }
        if ((v.startsWith('dblink') && isOp(T[k + 1], '(')) || v.includes('conninfo')) this.allParams = true;
      }
      if (setPassword && !setPasswordEq && isOp(t, '=')) {
        setPasswordEq = true;
        this.value(T, k + 1, true, false);
        continue;
      }
      const name = t.kind === 'word' ? t.value : t.kind === 'qident' ? t.value.toLowerCase() : '';
      if (name && isPasswordWord(name) && !(setPassword && k === 1)) {
        const j = isOp(T[k + 1], '=') || isOp(T[k + 1], ':=') ? k + 2 : k + 1;
        this.value(T, j, bareRole && t.kind === 'word' && name === 'password', false);
      }
    }
  }

  /**
   * Masks the value at T[j]: a literal, a placeholder, a function call's literal arguments,
   * a parenthesised group, or (when `bare`) an unquoted word; then any `||` or adjacent-literal
   * continuation. `skipPasswordKeyword` handles MySQL `IDENTIFIED BY PASSWORD 'hash'`.
   */
  private value(T: Token[], j: number, bare: boolean, skipPasswordKeyword: boolean): void {
    if (skipPasswordKeyword && T[j]?.kind === 'word' && T[j]!.value === 'password' && !isOp(T[j + 1], '('))
      j++;
    j = this.one(T, j, bare);
    for (;;) {
      const n = T[j];
      if (n?.kind === 'string') {
        this.mask(n);
        j++;
      } else if (isOp(n, '||')) j = this.one(T, j + 1, bare);
      else return;
    }
  }

  private one(T: Token[], j: number, bare: boolean): number {
    const t = T[j];
    if (!t) return j;
    switch (t.kind) {
      case 'param':
        this.params.add(t.paramIndex!);
        return j + 1;
      case 'string':
      case 'number':
        this.mask(t);
        return j + 1;
      case 'op':
        if (t.value === '(') return this.group(T, j);
        if ((t.value === '-' || t.value === '+') && T[j + 1]?.kind === 'number')
          return this.one(T, j + 1, bare);
        return j;
      case 'word':
        if (isOp(T[j + 1], '(')) return this.group(T, j + 1);
        if (bare && !NOT_SECRET.has(t.value)) return this.bareRun(T, j);
        return j + 1;
      case 'qident':
        return bare ? this.bareRun(T, j) : j + 1;
      default:
        return j + 1;
    }
  }

  /** An unquoted value runs until whitespace: `PASSWORD abc-123` masks `abc-123` as one. */
  private bareRun(T: Token[], j: number): number {
    let k = j + 1;
    for (; k < T.length && T[k]!.start === T[k - 1]!.end; k++) {
      const t = T[k]!;
      if (t.kind === 'semi' || (t.kind === 'op' && ',()'.includes(t.value))) break;
      this.edits.set(t, '');
    }
    if (k === j + 1) this.mask(T[j]!);
    else {
      this.edits.set(T[j]!, QUOTED_MASK);
      this.secrets.push(this.sql.slice(T[j]!.start, T[k - 1]!.end));
    }
    return k;
  }

  /** Masks every literal and placeholder inside the parentheses opening at T[j]. */
  private group(T: Token[], j: number): number {
    let depth = 0;
    for (let k = j; k < T.length; k++) {
      const t = T[k]!;
      if (isOp(t, '(')) depth++;
      else if (isOp(t, ')')) {
        depth--;
        if (depth === 0) return k + 1;
      } else if (t.kind === 'string' || t.kind === 'number') this.mask(t);
      else if (t.kind === 'param') this.params.add(t.paramIndex!);
    }
    return T.length;
  }

  private mask(t: Token): void {
    const raw = this.sql.slice(t.start, t.end);
    this.secrets.push(t.value, raw);
    const q = raw.search(/['"`$]/);
    if (q >= 0 && raw.length - q >= 2) this.secrets.push(raw.slice(q + 1, -1));
    this.edits.set(t, QUOTED_MASK);
  }

  /** A literal that mentions a password: mask connection strings, then treat it as SQL. */
  private embedded(t: Token): void {
    const content = redactEmbedded(t.value, this.dialect, this.depth, this.secrets);
    if (content !== t.value) this.edits.set(t, this.encode(t, content));
  }

  private comment(t: Token): void {
    const text = t.value;
    const block = text.startsWith('/*');
    const open = block ? 2 : text.startsWith('#') ? 1 : 2;
    const body = text.slice(open, block ? -2 : undefined);
    const masked = maskAfterKeyword(maskConnectionStrings(body, this.secrets), this.secrets);
    if (masked !== body) this.edits.set(t, text.slice(0, open) + masked + (block ? '*/' : ''));
  }

  /** Writes a modified literal back in an equivalent form. */
  private encode(t: Token, content: string): string {
    const raw = this.sql.slice(t.start, t.end);
    if (t.style === 'dollar') {
      const tag = raw.slice(0, raw.indexOf('$', 1) + 1);
      if (!content.includes(tag)) return tag + content + tag;
    }
    const doubled = content.replace(/'/g, "''");
    if (this.dialect === 'mysql') return `'${doubled.replace(/\\/g, '\\\\')}'`;
    return content.includes('\\') ? `E'${doubled.replace(/\\/g, '\\\\')}'` : `'${doubled}'`;
  }
}

/**
 * Text inside a literal, a parameter value or a result cell that mentions a password: if it is
 * SQL, apply the statement rules; then mask connection strings; if nothing was found, mask
 * everything after the password keyword (fail closed for prose and fragments).
 */
export function redactEmbedded(text: string, dialect: Dialect, depth: number, found: string[]): string {
  const inner = depth < MAX_DEPTH ? analyse(text, dialect, depth + 1) : null;
  if (inner?.changed) found.push(...inner.secrets);
  const sql = inner?.changed ? inner.sql : text;
  const out = maskConnectionStrings(sql, found);
  return inner?.changed || out !== sql ? out : maskAfterKeyword(out, found);
}

function isOp(t: Token | undefined, op: string): boolean {
  return t !== undefined && t.kind === 'op' && t.value === op;
}
