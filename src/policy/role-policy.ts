/**
 * One role's statement policy on one target: its access level plus its `rules`, compiled once.
 * `check` judges one classified statement; engine.ts runs it over every statement of a text.
 */
import type { AccessLevel, RoleRules } from '../model/identity.js';
import type { SettingChange, StatementInfo, TableRef } from './classification.js';
import { exceedingEffect, type FunctionCheck, RANK } from './effects.js';
import { builtinFunctionRules, functionMatches, globToRegExp } from './function-rules.js';
import { changesNameResolution, settingEffect } from './settings.js';
import type { Dialect } from './sql-lexer.js';

export interface Denial {
  readonly rule: string;
  readonly why: string;
}

/** Prepared statement names the session has seen allowed (SQL PREPARE, protocol-level Parse). */
export interface PreparedNames {
  has(name: string): boolean;
}

interface TablePattern {
  readonly text: string;
  readonly schema: RegExp;
  readonly name: RegExp;
}

export class RolePolicy {
  /** Any statement rule at all: then what cannot be analysed fails closed even for admin. */
  readonly hasRules: boolean;
  readonly restricted: boolean;
  private readonly functions: FunctionCheck[];
  private readonly allowedFunctions: RegExp[];
  private readonly extraDenied: RegExp[];
  private readonly denyKinds: Set<string>;
  private readonly denyTables: TablePattern[];
  private readonly allowTables: TablePattern[] | null;
  private readonly tableRule: string | null;

  constructor(
    readonly access: AccessLevel,
    readonly rules: RoleRules | undefined,
    private readonly dialect: Dialect,
    /** Where unqualified names resolve: PostgreSQL `public`, MySQL the target's database. */
    private readonly defaultSchema: string,
  ) {
    const r = rules;
    this.denyKinds = new Set((r?.denyKinds ?? []).map((k) => k.toLowerCase()));
    this.denyTables = (r?.denyTables ?? []).map(tablePattern);
    this.allowTables = r?.allowTables ? r.allowTables.map(tablePattern) : null;
    this.extraDenied = (r?.denyFunctions ?? []).map(globToRegExp);
    this.allowedFunctions = (r?.allowFunctions ?? []).map(globToRegExp);
    this.functions = builtinFunctionRules(dialect).map((rule) => ({ re: globToRegExp(rule.pattern), rule }));
    this.tableRule = this.denyTables.length > 0 ? 'deny_tables' : this.allowTables ? 'allow_tables' : null;
    this.hasRules =
      this.denyKinds.size > 0 ||
      this.tableRule !== null ||
      r?.requireWhere === true ||
      this.extraDenied.length > 0;
    this.restricted = access !== 'admin' || this.hasRules;
  }

  /** Why `info` is denied, or null. `prepared`: names EXECUTE may use. */
  check(info: StatementInfo, prepared: PreparedNames | undefined): Denial | null {
    if (!this.restricted) return null;
    const accessDenial = this.checkAccess(info);
    if (accessDenial) return accessDenial;
    if (info.execute !== undefined && !prepared?.has(info.execute)) {
      return {
        rule: 'fail_closed',
        why: `EXECUTE ${info.execute}: a prepared statement dbtape has not checked`,
      };
    }
    if (info.prepare?.body) {
      for (const s of info.prepare.body) {
        const d = this.check(s, prepared);
        if (d) return { rule: d.rule, why: `PREPARE ${info.prepare.name}: ${d.why}` };
      }
    }
    return this.checkRules(info);
  }

  /**
   * A setting the client gives at login (a startup parameter or `-c` in `options`), judged as a
   * SET of it would be: a read session must not start with standard_conforming_strings off, nor
   * under table rules with a search_path of its choosing, any more than it may SET them later.
   */
  checkStartupSetting(s: SettingChange): Denial | null {
    if (!this.restricted) return null;
    const e = settingEffect(s, this.dialect);
    if (e && RANK[e.level] > RANK[this.access]) return { rule: `access=${this.access}`, why: e.why };
    if (this.tableRule && changesNameResolution(s)) {
      return { rule: this.tableRule, why: 'changing search_path is not allowed when table rules apply' };
    }
    return null;
  }

  private checkAccess(info: StatementInfo): Denial | null {
    const e = exceedingEffect(info, this.access, this.dialect, this.functions, this.allowedFunctions);
    return e ? { rule: `access=${this.access}`, why: e.why } : null;
  }

  private checkRules(info: StatementInfo): Denial | null {
    if (!this.hasRules) return null;
    const opaque = info.flags.includes('opaque') || info.kind === 'do' || info.kind === 'call';
    if (opaque)
      return {
        rule: 'fail_closed',
        why: `${info.command.toUpperCase()} cannot be checked against this role's rules`,
      };
    if (this.denyKinds.has(info.kind) || this.denyKinds.has(info.command)) {
      return { rule: 'deny_kinds', why: `${info.command.toUpperCase()} is not allowed for this role` };
    }
    if (
      this.rules?.requireWhere &&
      (info.kind === 'update' || info.kind === 'delete') &&
      info.hasWhere === false
    ) {
      return {
        rule: 'require_where',
        why: `${info.command.toUpperCase()} without a WHERE clause that names a column`,
      };
    }
    for (const f of info.functions) {
      if (this.extraDenied.some((re) => functionMatches(re, f))) {
        return { rule: 'deny_functions', why: `${f}() is not allowed for this role` };
      }
    }
    return this.tableRule ? this.checkTables(info, this.tableRule) : null;
  }

  private checkTables(info: StatementInfo, rule: string): Denial | null {
    if (info.flags.includes('tables-unknown')) {
      return { rule: 'fail_closed', why: `the tables ${info.command.toUpperCase()} touches are not known` };
    }
    if (info.settings.some(changesNameResolution)) {
      return { rule, why: 'changing search_path is not allowed when table rules apply' };
    }
    if (info.use !== undefined && info.use !== this.defaultSchema) {
      return {
        rule,
        why: `USE ${info.use}: only the target's database may be the default when table rules apply`,
      };
    }
    for (const t of [...info.reads, ...info.writes]) {
      const candidates = this.schemasFor(t);
      const denied = this.denyTables.find((p) => candidates.some((s) => matches(p, s, t.name)));
      if (denied) return { rule: 'deny_tables', why: `${show(t)} matches '${denied.text}'` };
      const allow = this.allowTables;
      if (allow && !candidates.every((s) => allow.some((p) => matches(p, s, t.name)))) {
        return { rule: 'allow_tables', why: `${show(t)} is not in allow_tables` };
      }
    }
    return null;
  }

  /**
   * Schemas an unqualified name may resolve to. PostgreSQL searches pg_catalog first, and every
   * catalog relation's name starts with `pg_`.
   */
  private schemasFor(t: TableRef): string[] {
    if (t.schema !== null) return [t.schema.toLowerCase()];
    if (this.dialect === 'postgres' && t.name.toLowerCase().startsWith('pg_'))
      return ['pg_catalog', this.defaultSchema];
    return [this.defaultSchema];
  }
}

function tablePattern(text: string): TablePattern {
  const dot = text.indexOf('.');
  const schema = dot === -1 ? '*' : text.slice(0, dot);
  const name = dot === -1 ? text : text.slice(dot + 1);
  return { text, schema: globToRegExp(schema), name: globToRegExp(name) };
}

function matches(p: TablePattern, schema: string, name: string): boolean {
  return p.schema.test(schema) && p.name.test(name.toLowerCase());
}

function show(t: TableRef): string {
  return t.schema === null ? t.name : `${t.schema}.${t.name}`;
}
