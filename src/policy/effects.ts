/**
 * The access level a classified statement needs, with the reason a denial gives. `read` covers what
 * cannot change data, schema or the session's safety settings; `write` adds DML (and what only
 * matters to read-only mode: row locks, sequences, BEGIN READ WRITE); `admin` is everything else,
 * including whatever cannot be analysed.
 */
import type { AccessLevel } from '../model/identity.js';
import type { StatementInfo } from './classification.js';
import { type FunctionRule, functionMatches } from './function-rules.js';
import { settingEffect } from './settings.js';
import type { Dialect } from './sql-lexer.js';

export interface Effect {
  readonly level: AccessLevel;
  readonly why: string;
}

export const RANK: Record<AccessLevel, number> = { read: 0, write: 1, admin: 2 };

/** A compiled function rule. */
export interface FunctionCheck {
  readonly re: RegExp;
  readonly rule: FunctionRule;
}

/** The first effect of `info` that needs more than `access`, or null when `access` suffices. */
export function exceedingEffect(
  info: StatementInfo,
  access: AccessLevel,
  dialect: Dialect,
  functions: readonly FunctionCheck[],
  /** allow_functions: names exempt from the non-dynamic built-in rules. */
  allowed: readonly RegExp[] = [],
): Effect | null {
  const max = RANK[access];
  const over = (e: Effect | null): Effect | null => (e && RANK[e.level] > max ? e : null);
  const found = over(flagEffect(info)) ?? over(kindEffect(info));
  if (found) return found;
  for (const s of info.settings) {
    const e = over(settingEffect(s, dialect));
    if (e) return e;
  }
  for (const t of info.writes) {
    const catalog = t.schema === null || t.schema === 'pg_catalog';
    if (dialect === 'postgres' && catalog && t.name === 'pg_settings') {
      const e = over({ level: 'admin', why: 'writing pg_settings changes settings' });
      if (e) return e;
    }
  }
  for (const f of info.functions) {
    for (const c of functions) {
      if (RANK[c.rule.level] <= max || !functionMatches(c.re, f)) continue;
      if (!c.rule.dynamic && allowed.some((a) => functionMatches(a, f))) continue;
      return { level: c.rule.level, why: `${f}() ${c.rule.why}` };
    }
  }
  return null;
}

function cmd(info: StatementInfo): string {
  return info.command.toUpperCase();
}

function kindEffect(info: StatementInfo): Effect | null {
  switch (info.kind) {
    case 'select':
    case 'show':
    case 'explain':
    case 'execute':
    case 'deallocate':
      return info.writes.length > 0 ? { level: 'write', why: `${cmd(info)} changes data` } : null;
    case 'insert':
    case 'update':
    case 'delete':
    case 'merge':
      return { level: 'write', why: `${cmd(info)} changes data` };
    case 'copy':
      return info.writes.length > 0 ? { level: 'write', why: 'COPY FROM changes data' } : null;
    case 'load':
      return { level: 'write', why: 'LOAD DATA changes data' };
    case 'ddl':
      return { level: 'admin', why: `${cmd(info)} changes the schema` };
    case 'grant':
      return { level: 'admin', why: `${cmd(info)} changes users or privileges` };
    case 'maintenance':
      return { level: 'admin', why: `${cmd(info)} is a maintenance command` };
    case 'call':
      return { level: 'admin', why: 'CALL runs a procedure whose statements cannot be checked' };
    case 'do':
      return { level: 'admin', why: 'DO runs a code block whose statements cannot be checked' };
    case 'lock':
      return info.command === 'unlock' || info.flags.includes('access-share-lock')
        ? null
        : { level: 'write', why: `${cmd(info)} takes table locks` };
    case 'prepare':
      return info.prepare?.body === null
        ? { level: 'admin', why: 'PREPARE from a variable cannot be checked' }
        : null;
    case 'transaction':
    case 'set':
      return null;
    case 'utility':
      if (info.command === 'listen' || info.command === 'use') return null;
      if (info.command === 'notify') return { level: 'write', why: 'NOTIFY sends a notification' };
      return { level: 'admin', why: `${cmd(info)} needs admin access` };
  }
}

function flagEffect(info: StatementInfo): Effect | null {
  let write: Effect | null = null;
  for (const f of info.flags) {
    switch (f) {
      case 'copy-program':
        return { level: 'admin', why: 'COPY ... PROGRAM runs a program on the database server' };
      case 'server-file-read':
        return { level: 'admin', why: `${cmd(info)} reads a file on the database server` };
      case 'server-file-write':
        return { level: 'admin', why: `${cmd(info)} writes a file on the database server` };
      case 'opaque':
        return { level: 'admin', why: `${cmd(info)} cannot be checked` };
      case 'select-into':
        return { level: 'admin', why: 'SELECT ... INTO creates a table' };
      case 'locking':
        write ??= { level: 'write', why: 'SELECT ... FOR UPDATE/SHARE locks rows' };
        break;
      case 'dml-in-cte':
        write ??= { level: 'write', why: 'a WITH query containing INSERT/UPDATE/DELETE changes data' };
        break;
      case 'client-data-in':
        write ??= { level: 'write', why: `${cmd(info)} loads rows from the client` };
        break;
      case 'read-write-transaction':
        write ??= { level: 'write', why: 'a READ WRITE transaction leaves read-only mode' };
        break;
      case 'two-phase':
        write ??= { level: 'write', why: 'two-phase commit commands change data' };
        break;
    }
  }
  return write;
}
