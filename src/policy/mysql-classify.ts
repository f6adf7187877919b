/**
 * MySQL/MariaDB statements from node-sql-parser's AST. Statement nodes carry `type` (select, insert,
 * update, ...); subqueries come wrapped as `{ tableList, columnList, ast }`; table references are
 * `{ db, table, as }`; calls are `{ type: 'function', name: { name: [{ value }], schema? } }` or
 * `{ type: 'aggr_func', name }`.
 */
import type { StatementInfo, StatementKind } from './classification.js';
import { InfoBuilder, type LiteralUse } from './info-builder.js';
import type { MysqlAst } from './parsers.js';

type Json = Record<string, unknown>;

function obj(v: unknown): Json | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v == null ? [] : [v];
}
function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

const DDL = new Set(['create', 'alter', 'drop', 'truncate', 'rename']);

/** null: a statement type this classifier does not know (the caller falls back or fails closed). */
export function classifyMysqlAst(ast: MysqlAst, literals: LiteralUse): StatementInfo | null {
  const type = (str(ast.type) ?? '').toLowerCase();
  switch (type) {
    case 'select':
      return statement('select', 'select', ast, literals);
    case 'insert':
    case 'replace':
      return statement('insert', type, ast, literals);
    case 'update':
      return statement('update', 'update', ast, literals);
    case 'delete':
      return statement('delete', 'delete', ast, literals);
    case 'set':
      return setStatement(ast, literals);
    case 'show':
    case 'desc':
      return statement('show', type === 'desc' ? 'describe' : 'show', ast, literals);
    case 'explain':
      return explain(ast, literals);
    case 'transaction':
      return transaction(ast, literals);
    case 'use': {
      const b = new InfoBuilder('utility', 'use', literals);
      b.use = (str(ast.db) ?? '').toLowerCase();
      return b.build();
    }
    case 'call': {
      const b = statementBuilder('call', 'call', ast, literals);
      b.flags.add('opaque');
      return b.build();
    }
    case 'lock':
    case 'unlock':
      return statement('lock', type, ast, literals, true);
    case 'grant':
    case 'revoke':
      return statement('grant', type, ast, literals, true);
    case 'load_data': {
      const b = statementBuilder('load', 'load', ast, literals, true);
      b.flags.add(ast.local ? 'client-data-in' : 'server-file-read');
      return b.build();
    }
    default:
      if (DDL.has(type)) {
        const keyword = (str(ast.keyword) ?? '').toLowerCase();
        const kind: StatementKind = keyword === 'user' || keyword === 'role' ? 'grant' : 'ddl';
        return statement(kind, type, ast, literals, true);
      }
      return null;
  }
}

function statement(
  kind: StatementKind,
  command: string,
  ast: Json,
  literals: LiteralUse,
  writesAll = false,
): StatementInfo {
  return statementBuilder(kind, command, ast, literals, writesAll).build();
}

function statementBuilder(
  kind: StatementKind,
  command: string,
  ast: Json,
  literals: LiteralUse,
  writesAll = false,
): InfoBuilder {
  const b = new InfoBuilder(kind, command, literals);
  new Walker(b, writesAll).statement(ast);
  if (kind === 'update' || kind === 'delete') b.hasWhere = referencesColumn(ast.where);
  return b;
}

function referencesColumn(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(referencesColumn);
  const o = obj(v);
  if (!o) return false;
  if (o.type === 'column_ref') return true;
  return Object.values(o).some((c) => typeof c === 'object' && c !== null && referencesColumn(c));
}

/** Scope words that may precede a system variable: SET GLOBAL x, SET @@session.x, ... */
const SCOPES: Record<string, 'session' | 'global' | 'local'> = {
  global: 'global',
  persist: 'global',
  persist_only: 'global',
  session: 'session',
  local: 'session',
};

function setStatement(ast: Json, literals: LiteralUse): StatementInfo {
  const b = new InfoBuilder('set', 'set', literals);
  const w = new Walker(b, false);
  const keyword = (str(ast.keyword) ?? '').toLowerCase();
  for (const item of arr(ast.expr)) {
    const a = obj(item);
    const left = obj(a?.left);
    if (!a || !left) {
      b.setting('?', null);
      continue;
    }
    w.walk(a.right);
    const prefix = str(left.prefix);
    if (prefix === '@') continue; // a user variable: no server setting
    let name = (str(left.name) ?? '').toLowerCase();
    let scope = SCOPES[keyword] ?? 'session';
    const members = arr(left.members).map((m) => (str(m) ?? '').toLowerCase());
    if (members.length > 0 && SCOPES[name] !== undefined) {
      scope = SCOPES[name]!;
      name = members.join('.');
    } else if (members.length > 0) name = [name, ...members].join('.');
    b.setting(name, name === 'sql_mode' ? sqlModeValue(a.right) : constValue(a.right), scope);
  }
  return b.build();
}

/**
 * sql_mode's new value as text: a constant, or `CONCAT(@@sql_mode, '<modes>'...)`, which
 * MariaDB Connector/J sends at every login to add STRICT_TRANS_TABLES. That form only adds the
 * constant modes to the session's current ones, so it reads as `@@sql_mode` followed by them and
 * settings.ts judges the added modes. Anything else computed is null (unknown).
 */
function sqlModeValue(v: unknown): string | null {
  const o = obj(v);
  const fn = arr(obj(o?.name)?.name).map((p) => (str(obj(p)?.value) ?? '').toLowerCase());
  if (o?.type !== 'function' || fn.length !== 1 || fn[0] !== 'concat') return constValue(v);
  const [first, ...rest] = arr(obj(o.args)?.value);
  if (!isSqlModeVariable(first)) return null;
  const added = rest.map((r) => {
    const t = str(obj(r)?.type) ?? '';
    return t.endsWith('_string') || t === 'string' ? String(obj(r)?.value) : null;
  });
  return added.every((x) => x !== null) ? `@@sql_mode${added.join('')}` : null;
}

/** `@@sql_mode` or `@@session.sql_mode`: the session's own current value. */
function isSqlModeVariable(v: unknown): boolean {
  const o = obj(v);
  if (o?.type !== 'var' || str(o.prefix) !== '@@') return false;
  const parts = [str(o.name), ...arr(o.members).map(str)].map((p) => (p ?? '').toLowerCase());
  return parts.join('.') === 'sql_mode' || parts.join('.') === 'session.sql_mode';
}

function constValue(v: unknown): string | null {
  const o = obj(v);
  if (!o) return null;
  const t = str(o.type) ?? '';
  if (t === 'number' || t === 'bool' || t.endsWith('_string') || t === 'string') return String(o.value);
  if (t === 'default') return str(o.value);
  if (t === 'column_ref') return str(o.column); // SET autocommit = ON: ON reads as a name
  if (t === 'function') {
    // The MariaDB grammar reads a bare ON/OFF as a call without arguments.
    const parts = arr(obj(o.name)?.name).map((p) => str(obj(p)?.value));
    const args = arr(obj(o.args)?.value);
    if (parts.length === 1 && args.length === 0 && /^(on|off)$/i.test(parts[0] ?? '')) return parts[0]!;
  }
  return null;
}

function explain(ast: Json, literals: LiteralUse): StatementInfo {
  const inner = obj(ast.expr);
  const info = inner ? classifyMysqlAst(inner, literals) : null;
  const b = new InfoBuilder('explain', 'explain', literals);
  if (info) {
    b.reads.push(...info.reads, ...info.writes);
    for (const f of info.functions) b.functions.add(f);
  }
  return b.build();
}

function transaction(ast: Json, literals: LiteralUse): StatementInfo {
  const expr = obj(ast.expr);
  const action = (str(obj(expr?.action)?.value) ?? '').toLowerCase();
  const b = new InfoBuilder('transaction', action === 'start' ? 'begin' : action, literals);
  for (const m of arr(expr?.modes)) {
    const mode = (str(obj(m)?.value) ?? '').toLowerCase();
    if (mode === 'read write') b.flags.add('read-write-transaction');
  }
  return b.build();
}

/** Walks one statement: tables, calls, subqueries, locking reads, INTO OUTFILE, CTE scoping. */
class Walker {
  private readonly scopes: string[][] = [];

  constructor(
    private readonly b: InfoBuilder,
    private readonly writesAll: boolean,
  ) {}

  statement(ast: Json): void {
    const type = str(ast.type);
    if (type === 'select') {
      if (ast.locking_read) this.b.flags.add('locking');
      const into = obj(ast.into);
      const kw = (str(into?.keyword) ?? '').toLowerCase();
      if (kw === 'outfile' || kw === 'dumpfile') this.b.flags.add('server-file-write');
    }
    const writeKeys = WRITE_KEYS[type ?? ''] ?? [];
    const ctes = arr(ast.with).map((c) => obj(c) ?? {});
    const names = ctes.map((c) => (str(obj(c.name)?.value) ?? '').toLowerCase());
    const recursive = ctes.some((c) => c.recursive === true) || ast.recursive === true;
    ctes.forEach((c, i) => {
      this.scopes.push(recursive ? names : names.slice(0, i));
      this.walk(c.stmt);
      this.scopes.pop();
    });
    this.scopes.push(names);
    for (const [k, v] of Object.entries(ast)) {
      if (k === 'with' || v === null || typeof v !== 'object') continue;
      this.walk(v, this.writesAll || writeKeys.includes(k));
    }
    this.scopes.pop();
  }

  walk(v: unknown, write = false): void {
    if (Array.isArray(v)) {
      for (const x of v) this.walk(x, write);
      return;
    }
    const o = obj(v);
    if (!o) return;
    if (obj(o.ast) && 'tableList' in o) {
      this.nested(obj(o.ast)!);
      return;
    }
    const type = str(o.type);
    if (
      type === 'select' ||
      type === 'insert' ||
      type === 'update' ||
      type === 'delete' ||
      type === 'replace'
    ) {
      this.nested(o);
      return;
    }
    if (type === 'function') this.func(o);
    else if (type === 'aggr_func') this.b.functions.add((str(o.name) ?? '').toLowerCase());
    else if (typeof o.table === 'string' && 'db' in o && type !== 'column_ref') this.table(o, write);
    for (const [k, child] of Object.entries(o)) {
      if (k === 'name' && type === 'function') continue;
      if (child !== null && typeof child === 'object') this.walk(child, write);
    }
  }

  private nested(ast: Json): void {
    const w = new Walker(this.b, this.writesAll);
    w.scopes.push(...this.scopes);
    w.statement(ast);
  }

  private table(o: Json, write: boolean): void {
    const schema = str(o.db);
    const name = (str(o.table) ?? '').toLowerCase();
    if (schema === null && this.scopes.some((s) => s.includes(name))) return;
    this.b.table({ schema: schema === null ? null : schema.toLowerCase(), name }, write);
  }

  private func(o: Json): void {
    const n = obj(o.name);
    const parts = arr(n?.name).map((p) => str(obj(p)?.value) ?? '');
    const schema = str(obj(n?.schema)?.value);
    const name = (schema ? [schema, ...parts] : parts).join('.').toLowerCase();
    this.b.functions.add(name);
  }
}

/** Which fields of a statement name the tables it writes. */
const WRITE_KEYS: Record<string, readonly string[]> = {
  insert: ['table'],
  replace: ['table'],
  update: ['table'],
  delete: ['table'],
};
