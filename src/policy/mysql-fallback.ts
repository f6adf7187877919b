/**
 * MySQL/MariaDB statements node-sql-parser does not know, read from tokens. Only statement forms
 * whose whole grammar is a handful of keywords and names are recognised (SHOW, SET NAMES,
 * SET TRANSACTION, SAVEPOINT, PREPARE/EXECUTE/DEALLOCATE, XA, KILL, FLUSH, ...); wherever one can
 * hold an expression (SHOW ... WHERE, DO, EXPLAIN <statement>, SET STATEMENT ... FOR) that part goes
 * back to the real parser. Anything else is not recognised, and the caller fails closed.
 * Grammar: https://dev.mysql.com/doc/refman/8.0/en/sql-statements.html, https://mariadb.com/kb/en/sql-statements/
 */
import type { StatementInfo, StatementKind } from './classification.js';
import { InfoBuilder, type LiteralUse } from './info-builder.js';
import { type LexToken, lex } from './sql-lexer.js';

/** Classifies a nested statement's code with the full MySQL classifier (for EXPLAIN, PREPARE, ...). */
export type ClassifyNested = (code: string) => readonly StatementInfo[] | null;

interface Tok {
  readonly kind: LexToken['kind'];
  /** Lower-case text for words and operators; the raw text otherwise. */
  readonly text: string;
  readonly start: number;
}

/** Admin-only statements recognised by their first word(s); what follows does not matter. */
const ADMIN_FIRST: Record<string, [StatementKind, string]> = {
  kill: ['utility', 'kill'],
  flush: ['utility', 'flush'],
  reset: ['utility', 'reset'],
  purge: ['utility', 'purge'],
  change: ['utility', 'change'],
  stop: ['utility', 'stop'],
  install: ['utility', 'install'],
  uninstall: ['utility', 'uninstall'],
  shutdown: ['utility', 'shutdown'],
  restart: ['utility', 'restart'],
  cache: ['utility', 'cache'],
  binlog: ['utility', 'binlog'],
  handler: ['utility', 'handler'],
  backup: ['utility', 'backup'],
  check: ['maintenance', 'check'],
  checksum: ['maintenance', 'check'],
  optimize: ['maintenance', 'optimize'],
  repair: ['maintenance', 'repair'],
  grant: ['grant', 'grant'],
  revoke: ['grant', 'revoke'],
  create: ['ddl', 'create'],
  alter: ['ddl', 'alter'],
  drop: ['ddl', 'drop'],
  rename: ['ddl', 'rename'],
  truncate: ['ddl', 'truncate'],
};

export function classifyMysqlFallback(
  code: string,
  literals: LiteralUse,
  nested: ClassifyNested,
): StatementInfo | null {
  const lexed = lex(code, 'mysql');
  if (!lexed.ok) return null;
  const toks: Tok[] = lexed.tokens
    .filter((t) => t.kind !== 'space' && t.kind !== 'comment')
    .map((t) => {
      const raw = code.slice(t.start, t.end);
      return {
        kind: t.kind,
        text: t.kind === 'word' || t.kind === 'op' ? raw.toLowerCase() : raw,
        start: t.start,
      };
    });
  if (toks.length === 0) return null;
  // Every fallback reading depends on keyword and literal text: cache it by exact text only.
  literals.used = true;
  return new Fallback(code, toks, literals, nested).run();
}

class Fallback {
  constructor(
    private readonly code: string,
    private readonly t: readonly Tok[],
    private readonly literals: LiteralUse,
    private readonly nested: ClassifyNested,
  ) {}

  private word(i: number): string {
    const t = this.t[i];
    return t?.kind === 'word' ? t.text : '';
  }

  private build(kind: StatementKind, command: string, fill?: (b: InfoBuilder) => void): StatementInfo {
    const b = new InfoBuilder(kind, command, this.literals);
    fill?.(b);
    return b.build();
  }

  /** Only names, literals, `.`, `,`, `=` and `@` from token `from` on. */
  private namesOnly(from: number): boolean {
    for (let i = from; i < this.t.length; i++) {
      const t = this.t[i]!;
      if (t.kind === 'op' && !['.', ',', '=', '@'].includes(t.text)) return false;
      if (t.kind === 'param' || t.kind === 'semi' || t.kind === 'exec') return false;
    }
    return true;
  }

  run(): StatementInfo | null {
    const w0 = this.word(0);
    const w1 = this.word(1);
    switch (w0) {
      case 'show':
        return this.show();
      case 'help':
        return this.build('show', 'help');
      case 'desc':
      case 'describe':
      case 'explain':
        return this.explain();
      case 'analyze':
        if (['table', 'tables', 'no_write_to_binlog', 'local'].includes(w1)) {
          return this.build('maintenance', 'analyze', (b) => b.flags.add('tables-unknown'));
        }
        return this.executed(1, 'explain-analyze');
      case 'set':
        return this.set();
      case 'begin':
      case 'commit':
      case 'rollback':
      case 'savepoint':
      case 'release':
        return this.namesOnly(1) ? this.build('transaction', w0) : null;
      case 'start':
        return this.start();
      case 'xa':
        return this.build('transaction', 'xa', (b) => b.flags.add('two-phase'));
      case 'prepare':
        return this.prepare();
      case 'execute':
        return this.t[1]?.kind === 'word' || this.t[1]?.kind === 'qident'
          ? this.build('execute', 'execute', (b) => {
              b.execute = nameOf(this.t[1]!);
            })
          : null;
      case 'deallocate':
        return this.deallocate(1);
      case 'do':
        return this.viaSelect(1, 'select', 'do');
      case 'table':
        return this.tableStatement();
    }
    if (w0 === 'drop' && w1 === 'prepare') return this.deallocate(1);
    if ((w0 === 'create' || w0 === 'alter' || w0 === 'drop') && (w1 === 'user' || w1 === 'role')) {
      return this.build('grant', w0, (b) => b.flags.add('tables-unknown'));
    }
    if (w0 === 'load') return this.build('utility', 'load', (b) => b.flags.add('tables-unknown'));
    const admin = ADMIN_FIRST[w0];
    // The tables these name are not extracted, so a role with table rules refuses them.
    if (admin) return this.build(admin[0], admin[1], (b) => b.flags.add('tables-unknown'));
    return null;
  }

  /** SHOW ... [LIKE 'x' | WHERE expr]: only names and literals, the WHERE part parsed for real. */
  private show(): StatementInfo | null {
    const where = this.t.findIndex((t) => t.kind === 'word' && t.text === 'where');
    const end = where === -1 ? this.t.length : where;
    for (let i = 1; i < end; i++) {
      const t = this.t[i]!;
      const call = t.text === '(' && this.t[i - 1]?.text === 'current_user' && this.t[i + 1]?.text === ')';
      if (call) i++;
      else if (t.kind === 'op' && !['.', ',', '=', '@'].includes(t.text)) return null;
      else if (t.kind === 'param' || t.kind === 'exec') return null;
    }
    if (where === -1) return this.build('show', 'show');
    const cond = this.code.slice(this.t[where + 1]?.start ?? this.code.length);
    const inner = this.nested(`SELECT 1 FROM DUAL WHERE ${cond}`);
    if (!inner) return null;
    return this.build('show', 'show', (b) => {
      for (const s of inner) b.merge(s);
      b.kind = 'show';
    });
  }

  /** DESCRIBE t [col] | EXPLAIN [ANALYZE] [FORMAT=x | EXTENDED | PARTITIONS] <statement> | EXPLAIN FOR CONNECTION n. */
  private explain(): StatementInfo | null {
    let i = 1;
    let analyze = false;
    for (;;) {
      const w = this.word(i);
      if (w === 'analyze') analyze = true;
      else if (w === 'extended' || w === 'partitions') {
        // modifiers only
      } else if (w === 'format' && this.t[i + 1]?.text === '=') i += 2;
      else break;
      i++;
    }
    const w = this.word(i);
    if (w === 'for') return this.namesOnly(i) ? this.build('show', 'explain') : null;
    const isStatement = [
      'select',
      'insert',
      'update',
      'delete',
      'replace',
      'with',
      'table',
      'values',
    ].includes(w);
    if (isStatement || this.t[i]?.text === '(') {
      if (analyze) return this.executed(i, 'explain-analyze');
      const inner = this.nested(this.code.slice(this.t[i]!.start));
      if (!inner) return null;
      return this.build('explain', 'explain', (b) => {
        for (const s of inner) {
          b.reads.push(...s.reads, ...s.writes);
          for (const f of s.functions) b.functions.add(f);
        }
      });
    }
    // DESCRIBE table [column | 'pattern']
    if (i !== 1 || !this.namesOnly(1)) return null;
    const table = this.t[1];
    if (!table || (table.kind !== 'word' && table.kind !== 'qident')) return null;
    return this.build('show', 'describe', (b) => {
      const dot = this.t[2]?.text === '.';
      const ref =
        dot && this.t[3]
          ? { schema: nameOf(table), name: nameOf(this.t[3]) }
          : { schema: null, name: nameOf(table) };
      b.table(ref, false);
    });
  }

  /** A statement that runs as written from token `from` (EXPLAIN ANALYZE, MariaDB ANALYZE <stmt>). */
  private executed(from: number, flag: 'explain-analyze'): StatementInfo | null {
    const t = this.t[from];
    if (!t) return null;
    const inner = this.nested(this.code.slice(t.start));
    if (inner?.length !== 1) return null;
    const s = inner[0]!;
    return { ...s, flags: [...s.flags, flag] };
  }

  private set(): StatementInfo | null {
    let i = 1;
    let scope: 'session' | 'global' = 'session';
    const w1 = this.word(1);
    if (['global', 'persist', 'persist_only'].includes(w1)) {
      scope = 'global';
      i++;
    } else if (w1 === 'session' || w1 === 'local') i++;
    const w = this.word(i);
    if (w === 'transaction') return this.setTransaction(i + 1, scope);
    if (i !== 1) return null;
    if (w === 'names' || w === 'charset' || (w === 'character' && this.word(i + 1) === 'set')) {
      const at = w === 'character' ? i + 2 : i + 1;
      const value = this.t[at];
      if (!value || !this.namesOnly(at)) return null;
      return this.build('set', 'set', (b) => b.setting('names', nameOf(value)));
    }
    if (w === 'role') return this.build('set', 'set', (b) => b.setting('role', null));
    if (w === 'password' || (w === 'default' && this.word(i + 1) === 'role')) {
      return this.build('grant', 'set', (b) => b.flags.add('tables-unknown'));
    }
    if (w === 'statement') return this.setStatement(i + 1);
    return null;
  }

  /** SET [GLOBAL|SESSION] TRANSACTION {ISOLATION LEVEL ... | READ ONLY | READ WRITE} [, ...] */
  private setTransaction(from: number, scope: 'session' | 'global'): StatementInfo | null {
    if (!this.namesOnly(from)) return null;
    const words = this.t.slice(from).map((t) => t.text);
    return this.build('set', 'set', (b) => {
      for (let i = 0; i < words.length; i++) {
        if (words[i] !== 'read') continue;
        if (words[i + 1] === 'write') b.setting('transaction_read_only', 'off', scope);
        else if (words[i + 1] === 'only') b.setting('transaction_read_only', 'on', scope);
      }
    });
  }

  /** MariaDB SET STATEMENT var = value [, ...] FOR <statement>. */
  private setStatement(from: number): StatementInfo | null {
    const forAt = this.t.findIndex((t, i) => i >= from && t.kind === 'word' && t.text === 'for');
    if (forAt === -1) return null;
    const assigns = this.code.slice(this.t[from]?.start ?? 0, this.t[forAt]!.start);
    const settings = this.nested(`SET ${assigns}`);
    const inner = this.nested(this.code.slice(this.t[forAt + 1]?.start ?? this.code.length));
    if (!settings || inner?.length !== 1) return null;
    return this.build(inner[0]!.kind, inner[0]!.command, (b) => {
      for (const s of settings) b.merge(s);
      b.merge(inner[0]!);
      b.hasWhere = inner[0]!.hasWhere;
    });
  }

  private start(): StatementInfo | null {
    if (this.word(1) !== 'transaction' || !this.namesOnly(2)) return null;
    const words = this.t.slice(2).map((t) => t.text);
    return this.build('transaction', 'begin', (b) => {
      for (let i = 0; i < words.length; i++) {
        if (words[i] === 'read' && words[i + 1] === 'write') b.flags.add('read-write-transaction');
      }
    });
  }

  /** PREPARE name FROM 'text' | @variable */
  private prepare(): StatementInfo | null {
    const name = this.t[1];
    if (!name || (name.kind !== 'word' && name.kind !== 'qident') || this.word(2) !== 'from') return null;
    const src = this.t[3];
    if (this.t.length === 4 && src?.kind === 'string') {
      const text = decodeMysqlString(src.text);
      const body = text === null ? null : this.nested(text);
      if (!body) return null;
      return this.build('prepare', 'prepare', (b) => {
        b.prepare = { name: nameOf(name), body };
      });
    }
    if (src?.text === '@' && this.t.length === 5) {
      return this.build('prepare', 'prepare', (b) => {
        b.prepare = { name: nameOf(name), body: null };
        b.flags.add('opaque');
      });
    }
    return null;
  }

  private deallocate(from: number): StatementInfo | null {
    if (this.word(from) !== 'prepare' || this.t.length !== from + 2) return null;
    const n = this.t[from + 1]!;
    return this.build('deallocate', 'deallocate', (b) => {
      b.deallocate = nameOf(n);
    });
  }

  /** DO expr[, ...]: evaluated like a SELECT list. */
  private viaSelect(from: number, kind: StatementKind, command: string): StatementInfo | null {
    const t = this.t[from];
    if (!t) return null;
    const inner = this.nested(`SELECT ${this.code.slice(t.start)}`);
    if (inner?.length !== 1) return null;
    return this.build(kind, command, (b) => b.merge(inner[0]!));
  }

  /** MySQL 8 TABLE t [ORDER BY c] [LIMIT n [OFFSET m]]. */
  private tableStatement(): StatementInfo | null {
    if (!this.namesOnly(1)) return null;
    const a = this.t[1];
    if (!a || (a.kind !== 'word' && a.kind !== 'qident')) return null;
    const dotted = this.t[2]?.text === '.' && this.t[3];
    return this.build('select', 'select', (b) =>
      b.table(
        dotted ? { schema: nameOf(a), name: nameOf(this.t[3]!) } : { schema: null, name: nameOf(a) },
        false,
      ),
    );
  }
}

/** A name token's value: `quoted` identifiers and 'strings' unquoted, words lower-cased. */
function nameOf(t: Tok): string {
  if (t.kind === 'qident') return t.text.slice(1, -1).replaceAll('``', '`').toLowerCase();
  if (t.kind === 'string') return decodeMysqlString(t.text)?.toLowerCase() ?? '';
  return t.text.toLowerCase();
}

/** A MySQL '...' or "..." literal's content (backslash escapes, doubled quotes); null if malformed. */
export function decodeMysqlString(raw: string): string | null {
  const q = raw[0];
  if ((q !== "'" && q !== '"') || raw[raw.length - 1] !== q || raw.length < 2) return null;
  const map: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };
  let out = '';
  for (let i = 1; i < raw.length - 1; i++) {
    const c = raw[i]!;
    if (c === '\\') {
      const n = raw[++i]!;
      out += map[n] ?? (n === '%' || n === '_' ? '\\' + n : n);
    } else if (c === q) {
      out += q;
      i++;
    } else out += c;
  }
  return out;
}
