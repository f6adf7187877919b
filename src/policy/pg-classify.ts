/**
 * PostgreSQL statements from libpg-query's parse tree (the server's own grammar, as JSON). Node
 * wrappers are `{ "SelectStmt": {...} }`; fields whose C type is a concrete struct (a statement's
 * `relation`) come bare, so a RangeVar is recognised by its `relname` as well.
 * Node definitions: src/include/nodes/parsenodes.h in the PostgreSQL sources.
 */
import type { StatementInfo, StatementKind } from './classification.js';
import { InfoBuilder, type LiteralUse } from './info-builder.js';

type Json = Record<string, unknown>;

function obj(v: unknown): Json | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
/** The single node inside a wrapper `{ Type: body }`. */
function unwrap(v: unknown): [string, Json] | null {
  const o = obj(v);
  if (!o) return null;
  const keys = Object.keys(o);
  if (keys.length !== 1) return null;
  const body = obj(o[keys[0]!]);
  return body ? [keys[0]!, body] : null;
}

/** Classifies one top-level statement node (`stmts[i].stmt`). */
export function classifyPgStatement(stmt: unknown, literals: LiteralUse): StatementInfo {
  const node = unwrap(stmt);
  if (!node) return new InfoBuilder('utility', 'unknown', literals).build();
  const [type, body] = node;
  const handler = HANDLERS[type];
  if (handler) return handler(body, literals);
  const [kind, command] = ddlCommand(type);
  const b = new InfoBuilder(kind, command, literals);
  new Walker(b, true).walk(body);
  return b.build();
}

type Handler = (body: Json, literals: LiteralUse) => StatementInfo;

function simple(kind: StatementKind, command: string): Handler {
  return (body, literals) => {
    const b = new InfoBuilder(kind, command, literals);
    new Walker(b, false).walk(body);
    return b.build();
  };
}

const HANDLERS: Record<string, Handler> = {
  SelectStmt: (body, literals) => dml('SelectStmt', body, literals),
  InsertStmt: (body, literals) => dml('InsertStmt', body, literals),
  UpdateStmt: (body, literals) => dml('UpdateStmt', body, literals),
  DeleteStmt: (body, literals) => dml('DeleteStmt', body, literals),
  MergeStmt: (body, literals) => dml('MergeStmt', body, literals),
  CopyStmt: copy,
  VariableSetStmt: variableSet,
  VariableShowStmt: simple('show', 'show'),
  TransactionStmt: transaction,
  ExplainStmt: explain,
  PrepareStmt: (body, literals) => {
    const b = new InfoBuilder('prepare', 'prepare', literals);
    b.prepare = { name: str(body.name) ?? '', body: [classifyPgStatement(body.query, literals)] };
    return b.build();
  },
  ExecuteStmt: (body, literals) => {
    const b = new InfoBuilder('execute', 'execute', literals);
    b.execute = str(body.name) ?? '';
    new Walker(b, false).walk(body.params);
    return b.build();
  },
  DeallocateStmt: (body, literals) => {
    const b = new InfoBuilder('deallocate', 'deallocate', literals);
    b.deallocate = body.isall === true ? '*' : (str(body.name) ?? '*');
    return b.build();
  },
  DoStmt: (_body, literals) => {
    const b = new InfoBuilder('do', 'do', literals);
    b.flags.add('opaque');
    return b.build();
  },
  CallStmt: (body, literals) => {
    const b = new InfoBuilder('call', 'call', literals);
    b.flags.add('opaque');
    new Walker(b, false).walk({ FuncCall: body.funccall });
    return b.build();
  },
  DeclareCursorStmt: simple('select', 'declare'),
  FetchStmt: simple('select', 'fetch'),
  ClosePortalStmt: simple('select', 'close'),
  ListenStmt: simple('utility', 'listen'),
  UnlistenStmt: simple('utility', 'listen'),
  NotifyStmt: simple('utility', 'notify'),
  LockStmt: (body, literals) => {
    const b = new InfoBuilder('lock', 'lock', literals);
    // LockStmt.mode is a LOCKMODE (storage/lockdefs.h); AccessShareLock = 1 conflicts only with
    // ACCESS EXCLUSIVE, as any SELECT's lock does: the tables are read, not written.
    const accessShare = body.mode === ACCESS_SHARE_LOCK;
    if (accessShare) b.flags.add('access-share-lock');
    new Walker(b, !accessShare).walk(body.relations);
    return b.build();
  },
  DiscardStmt: (body, literals) => {
    const b = new InfoBuilder('set', 'discard', literals);
    if (body.target === 'DISCARD_ALL') b.setting('*', null);
    return b.build();
  },
  VacuumStmt: (body, literals) => {
    const b = new InfoBuilder('maintenance', body.is_vacuumcmd === true ? 'vacuum' : 'analyze', literals);
    new Walker(b, true).walk(body.rels);
    return b.build();
  },
  ClusterStmt: simple('maintenance', 'cluster'),
  ReindexStmt: simple('maintenance', 'reindex'),
  CheckPointStmt: simple('maintenance', 'checkpoint'),
  LoadStmt: simple('utility', 'load'),
  GrantStmt: (body, literals) => {
    const b = new InfoBuilder('grant', body.is_grant === true ? 'grant' : 'revoke', literals);
    new Walker(b, true).walk(body.objects);
    return b.build();
  },
  GrantRoleStmt: (body, literals) =>
    new InfoBuilder('grant', body.is_grant === true ? 'grant' : 'revoke', literals).build(),
  AlterDefaultPrivilegesStmt: simple('grant', 'grant'),
  ReassignOwnedStmt: simple('grant', 'alter'),
  DropOwnedStmt: simple('grant', 'drop'),
  CreateRoleStmt: simple('grant', 'create'),
  AlterRoleStmt: simple('grant', 'alter'),
  AlterRoleSetStmt: simple('grant', 'alter'),
  DropRoleStmt: simple('grant', 'drop'),
};

/** The remaining statements change the schema; their command word comes from the node's name. */
function ddlCommand(type: string): [StatementKind, string] {
  const prefixes: [string, string][] = [
    ['Create', 'create'],
    ['Define', 'create'],
    ['Index', 'create'],
    ['View', 'create'],
    ['Rule', 'create'],
    ['Composite', 'create'],
    ['ImportForeign', 'create'],
    ['Alter', 'alter'],
    ['Rename', 'alter'],
    ['Drop', 'drop'],
    ['Truncate', 'truncate'],
    ['Comment', 'comment'],
    ['SecLabel', 'comment'],
    ['RefreshMatView', 'refresh'],
  ];
  for (const [prefix, command] of prefixes) if (type.startsWith(prefix)) return ['ddl', command];
  return ['utility', type.replace(/Stmt$/, '').toLowerCase()];
}

const DML_KIND: Record<string, StatementKind> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

function dml(type: string, body: Json, literals: LiteralUse): StatementInfo {
  const kind = DML_KIND[type]!;
  const b = new InfoBuilder(kind, kind, literals);
  const w = new Walker(b, false);
  w.visit(type, body, 0);
  if (type === 'SelectStmt' && b.flags.has('select-into')) {
    b.kind = 'ddl';
    b.command = 'create';
  }
  if (type === 'UpdateStmt' || type === 'DeleteStmt') b.hasWhere = referencesColumn(body.whereClause);
  return b.build();
}

/** A WHERE that names no column (`WHERE true`, `WHERE 1 = 1`) filters nothing. */
function referencesColumn(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(referencesColumn);
  const o = obj(v);
  if (!o) return false;
  for (const [k, child] of Object.entries(o)) {
    if (k === 'ColumnRef' || k === 'CurrentOfExpr') return true;
    if (typeof child === 'object' && referencesColumn(child)) return true;
  }
  return false;
}

function copy(body: Json, literals: LiteralUse): StatementInfo {
  const b = new InfoBuilder('copy', 'copy', literals);
  const from = body.is_from === true;
  const rel = obj(body.relation);
  if (rel) b.table(rangeVar(rel), from);
  const w = new Walker(b, false);
  if (body.query) w.walk(body.query);
  w.walk(body.whereClause);
  if (body.is_program === true) b.flags.add('copy-program');
  else if (body.filename != null) b.flags.add(from ? 'server-file-read' : 'server-file-write');
  else if (from) b.flags.add('client-data-in');
  return b.build();
}

function variableSet(body: Json, literals: LiteralUse): StatementInfo {
  const kind = str(body.kind);
  const name = (str(body.name) ?? '').toLowerCase();
  const scope = body.is_local === true ? 'local' : 'session';
  const reset = kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL';
  const b = new InfoBuilder('set', reset ? 'reset' : 'set', literals);
  switch (kind) {
    case 'VAR_SET_VALUE':
      b.setting(name, constText(body.args), scope);
      break;
    case 'VAR_SET_MULTI':
      // SET TRANSACTION ... / SET SESSION CHARACTERISTICS AS TRANSACTION ...: options as DefElems.
      for (const opt of arr(body.args)) {
        const d = unwrap(opt);
        if (d?.[0] !== 'DefElem' || d[1].defname !== 'transaction_read_only') continue;
        const on = truthy(d[1].arg, literals);
        const target =
          name === 'session characteristics' ? 'default_transaction_read_only' : 'transaction_read_only';
        b.setting(target, on ? 'on' : 'off', scope);
      }
      break;
    case 'VAR_RESET_ALL':
      b.setting('*', null, scope);
      break;
    default:
      b.setting(name, null, scope); // DEFAULT, FROM CURRENT, RESET name
  }
  return b.build();
}

function transaction(body: Json, literals: LiteralUse): StatementInfo {
  const kind = str(body.kind) ?? '';
  const word = kind.replace('TRANS_STMT_', '').toLowerCase();
  const command = word === 'start' ? 'begin' : word === 'rollback_to' ? 'rollback' : word;
  const b = new InfoBuilder('transaction', command, literals);
  for (const opt of arr(body.options)) {
    const d = unwrap(opt);
    if (d?.[0] === 'DefElem' && d[1].defname === 'transaction_read_only' && !truthy(d[1].arg, literals)) {
      b.flags.add('read-write-transaction');
    }
  }
  if (kind === 'TRANS_STMT_PREPARE' || kind.endsWith('_PREPARED')) b.flags.add('two-phase');
  return b.build();
}

function explain(body: Json, literals: LiteralUse): StatementInfo {
  let analyze = false;
  for (const opt of arr(body.options)) {
    const d = unwrap(opt);
    if (d?.[0] === 'DefElem' && d[1].defname === 'analyze')
      analyze = d[1].arg === undefined || truthy(d[1].arg, literals);
  }
  const inner = classifyPgStatement(body.query, literals);
  if (analyze) return { ...inner, flags: [...inner.flags, 'explain-analyze'] };
  // Planning only: nothing is written, but functions may be folded at plan time, so they count.
  const b = new InfoBuilder('explain', 'explain', literals);
  b.reads.push(...inner.reads, ...inner.writes);
  for (const f of inner.functions) b.functions.add(f);
  return b.build();
}

/** A boolean option value: A_Const / Integer / String / Boolean nodes (protobuf omits zero values). */
function truthy(v: unknown, literals: LiteralUse): boolean {
  literals.used = true;
  if (v === undefined || v === null) return true;
  const text = constText([v]);
  if (text === null) return true;
  return !['0', 'false', 'off', 'no', 'f', 'n'].includes(text.toLowerCase());
}

/** The text of constant arguments, comma-joined; null when any is not a constant. */
export function constText(args: unknown): string | null {
  const parts: string[] = [];
  for (const a of arr(args)) {
    let n = unwrap(a);
    if (n?.[0] === 'TypeCast') n = unwrap(n[1].arg);
    if (!n) return null;
    const [t, body] = n;
    const inner = t === 'A_Const' ? body : { [t]: body };
    const v = constValue(inner);
    if (v === null) return null;
    parts.push(v);
  }
  return parts.join(',');
}

function constValue(c: Json): string | null {
  const sval = obj(c.sval) ?? obj(c.String);
  if (sval) return str(sval.sval) ?? '';
  const ival = obj(c.ival) ?? obj(c.Integer);
  if (ival) return String(typeof ival.ival === 'number' ? ival.ival : 0);
  const fval = obj(c.fval) ?? obj(c.Float);
  if (fval) return str(fval.fval) ?? '0';
  const bval = obj(c.boolval) ?? obj(c.Boolean);
  if (bval) return bval.boolval === true ? 'true' : 'false';
  return null;
}

function rangeVar(r: Json): { schema: string | null; name: string } {
  return { schema: str(r.schemaname), name: str(r.relname) ?? '' };
}

/**
 * `SELECT ... FROM [pg_catalog.]pg_settings WHERE name = '<x>'`: the setting x that every row is
 * about, or null. pg_dump (15.8, 16.4 and later) sets restrict_nonsystem_relation_kind that way,
 * `SELECT set_config(name, '...', false) FROM pg_settings WHERE name = '...'`, so that servers
 * without the setting get no error; its name is as constant as in `set_config('<x>', ...)`.
 */
function pgSettingsRow(select: Json): string | null {
  const from = arr(select.fromClause);
  const rel = from.length === 1 ? obj(obj(from[0])?.RangeVar) : null;
  const schema = rel ? str(rel.schemaname) : null;
  if (!rel || str(rel.relname) !== 'pg_settings' || (schema !== null && schema !== 'pg_catalog')) return null;
  const where = obj(obj(select.whereClause)?.A_Expr);
  const op = arr(where?.name).map((n) => str(obj(obj(n)?.String)?.sval));
  if (!where || str(where.kind) !== 'AEXPR_OP' || op.length !== 1 || op[0] !== '=') return null;
  const [column, value] = isNameColumn(where.lexpr) ? [where.lexpr, where.rexpr] : [where.rexpr, where.lexpr];
  if (!isNameColumn(column)) return null;
  return constText([value])?.toLowerCase() ?? null;
}

/** The ColumnRef `name` or `pg_settings.name`. */
function isNameColumn(v: unknown): boolean {
  const fields = arr(obj(obj(v)?.ColumnRef)?.fields).map((f) => str(obj(obj(f)?.String)?.sval));
  const last = fields[fields.length - 1];
  return last === 'name' && (fields.length === 1 || (fields.length === 2 && fields[0] === 'pg_settings'));
}

const ACCESS_SHARE_LOCK = 1;

const STATEMENT_TYPES = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * Walks a subtree collecting tables and function calls. CTE names are scoped as PostgreSQL scopes
 * them (a non-recursive CTE sees only the ones before it), so a CTE cannot hide a real table.
 */
class Walker {
  private readonly scopes: string[][] = [];
  /** Inside `SELECT ... FROM pg_settings WHERE name = '<x>'`: the x every row's `name` holds. */
  private settingsRow: string | null = null;

  constructor(
    private readonly b: InfoBuilder,
    /** Every table seen is written (DDL, LOCK, VACUUM, GRANT targets). */
    private readonly writesAll: boolean,
  ) {}

  walk(v: unknown, depth = 0): void {
    if (Array.isArray(v)) {
      for (const x of v) this.walk(x, depth);
      return;
    }
    const o = obj(v);
    if (!o) return;
    if (typeof o.relname === 'string') {
      this.rangeVar(o);
      return;
    }
    for (const [k, child] of Object.entries(o)) {
      if (typeof child !== 'object' || child === null) continue;
      const c0 = k.charCodeAt(0);
      if (c0 >= 65 && c0 <= 90 && !Array.isArray(child)) this.visit(k, child as Json, depth);
      else this.walk(child, depth);
    }
  }

  visit(type: string, body: Json, depth: number): void {
    if (STATEMENT_TYPES.has(type)) {
      this.statement(type, body, depth);
      return;
    }
    if (type === 'RangeVar') {
      this.rangeVar(body);
      return;
    }
    if (type === 'FuncCall') this.funcCall(body);
    this.walk(body, depth);
  }

  private statement(type: string, body: Json, depth: number): void {
    const b = this.b;
    if (type !== 'SelectStmt') {
      if (depth > 0) b.flags.add('dml-in-cte');
      const rel = obj(body.relation);
      if (rel) b.table(rangeVar(rel), true);
    } else {
      if (arr(body.lockingClause).length > 0) b.flags.add('locking');
      const into = obj(body.intoClause);
      if (into) {
        b.flags.add('select-into');
        const rel = obj(into.rel);
        if (rel) b.table(rangeVar(rel), true);
      }
    }
    const w = obj(body.withClause);
    const ctes = arr(w?.ctes).map((c) => unwrap(c)?.[1] ?? {});
    const names = ctes.map((c) => str(c.ctename) ?? '');
    ctes.forEach((c, i) => {
      this.scopes.push(w?.recursive === true ? names : names.slice(0, i));
      this.walk(c.ctequery, depth + 1);
      this.scopes.pop();
    });
    this.scopes.push(names);
    const outerRow = this.settingsRow;
    this.settingsRow = type === 'SelectStmt' ? pgSettingsRow(body) : null;
    for (const [k, child] of Object.entries(body)) {
      if (k === 'withClause' || k === 'relation' || k === 'intoClause') continue;
      if (typeof child === 'object' && child !== null) this.walk(child, depth + 1);
    }
    this.settingsRow = outerRow;
    this.scopes.pop();
  }

  private rangeVar(r: Json): void {
    const ref = rangeVar(r);
    if (ref.schema === null && this.scopes.some((s) => s.includes(ref.name))) return;
    this.b.table(ref, this.writesAll);
  }

  private funcCall(f: Json): void {
    const parts = arr(f.funcname).map((p) => str(obj(unwrap(p)?.[1])?.sval) ?? '');
    const name = parts.join('.').toLowerCase();
    this.b.functions.add(name);
    const bare = parts[parts.length - 1]?.toLowerCase();
    if (bare === 'set_config') {
      // set_config(name, value, is_local) is SET by another name.
      const args = arr(f.args);
      const setting = constText(args.slice(0, 1)) ?? (isNameColumn(args[0]) ? this.settingsRow : null);
      const value = args.length > 1 ? constText(args.slice(1, 2)) : null;
      this.b.setting(setting ?? '?', setting === null ? null : value);
    }
  }
}
