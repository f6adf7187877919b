/**
 * Run-time settings that hold up the proxy's own guarantees, and what changing them needs.
 *  - read-only mode (PostgreSQL default_transaction_read_only is the upstream's second line of defence
 *    under `read`): turning it off needs `write`;
 *  - identity and auditing (role, session_authorization, log_*, sql_log_bin, ...): `admin`;
 *  - how the server reads statement text (standard_conforming_strings, multi-byte client encodings
 *    whose second byte may be a quote or backslash, sql_mode ANSI_QUOTES / NO_BACKSLASH_ESCAPES):
 *    `admin`, since the policy's parser would then read statements differently from the server.
 */
import type { AccessLevel } from '../model/identity.js';
import type { SettingChange } from './classification.js';
import type { Dialect } from './sql-lexer.js';

export interface SettingEffect {
  readonly level: AccessLevel;
  readonly why: string;
}

const READ_ONLY = new Set(['default_transaction_read_only', 'transaction_read_only', 'tx_read_only']);

const IDENTITY_PG = new Set(['role', 'session_authorization', 'session_replication_role']);

/**
 * Encodings in which a byte of a multi-byte character can be 0x5c (backslash) or 0x27 (quote), by
 * name with non-alphanumerics removed (PostgreSQL's clean_encoding_name does the same).
 */
const UNSAFE_ENCODINGS = new Set([
  'big5',
  'gbk',
  'gb18030',
  'sjis',
  'shiftjis',
  'shiftjis2004',
  'mskanji',
  'johab',
  'uhc',
  'cp932',
  'cp936',
  'cp949',
  'cp950',
  'win932',
  'win936',
  'win949',
  'win950',
  'windows932',
  'windows936',
  'windows949',
  'windows950',
]);

const MYSQL_ADMIN = new Set([
  'role',
  'sql_log_bin',
  'sql_log_off',
  'general_log',
  'slow_query_log',
  'pseudo_slave_mode',
  'pseudo_thread_id',
  'gtid_next',
  'gtid_seq_no',
  'server_id',
  'wsrep_on',
]);

function isOn(value: string | null): boolean {
  if (value === null) return false;
  return ['on', 'true', '1', 'yes', 't', 'y'].includes(value.trim().toLowerCase());
}

/** What a setting change needs; null: anyone may make it. `tableRules`: search_path is guarded. */
export function settingEffect(s: SettingChange, dialect: Dialect): SettingEffect | null {
  if (s.name === '?') return { level: 'admin', why: 'set_config with a computed name cannot be checked' };
  if (s.scope === 'global')
    return { level: 'admin', why: `SET GLOBAL ${s.name} changes the server for every session` };
  if (s.name === '*') return { level: 'write', why: 'RESET ALL / DISCARD ALL could undo read-only mode' };
  if (READ_ONLY.has(s.name)) {
    return isOn(s.value)
      ? null
      : { level: 'write', why: `setting ${s.name} to ${s.value ?? 'its default'} leaves read-only mode` };
  }
  return dialect === 'postgres' ? pgEffect(s) : mysqlEffect(s);
}

function pgEffect(s: SettingChange): SettingEffect | null {
  if (IDENTITY_PG.has(s.name)) {
    // RESET ROLE / RESET SESSION AUTHORIZATION go back to the login identity dbtape chose.
    if (s.value === null && s.name !== 'session_replication_role') return null;
    return { level: 'admin', why: `changing ${s.name} changes who the session acts as` };
  }
  if (s.name.startsWith('log_') || s.name.startsWith('pgaudit.')) {
    return { level: 'admin', why: `changing ${s.name} changes server logging` };
  }
  if (s.name === 'standard_conforming_strings' && !isOn(s.value)) {
    return { level: 'admin', why: 'turning standard_conforming_strings off changes how statements are read' };
  }
  if (s.name === 'client_encoding' && s.value !== null && UNSAFE_ENCODINGS.has(normEncoding(s.value))) {
    return { level: 'admin', why: `client_encoding ${s.value} can hide quotes inside multi-byte characters` };
  }
  return null;
}

function mysqlEffect(s: SettingChange): SettingEffect | null {
  const name = s.name.replace(/^session\./, '');
  if (MYSQL_ADMIN.has(name) || name.startsWith('log_')) {
    return { level: 'admin', why: `changing ${name} changes identity, logging or replication` };
  }
  if (name === 'sql_mode' && !readsLikeDefaultMode(s.value)) {
    return { level: 'admin', why: 'this sql_mode changes how statements are read' };
  }
  const charset = name === 'names' || name === 'character_set_client' || name === 'character_set_connection';
  // A number is a collation id (`SET character_set_client = 28` is gbk): checked as unknown.
  const byNumber = s.value !== null && /^\s*\d+\s*$/.test(s.value);
  if (charset && byNumber) {
    return { level: 'admin', why: `character set number ${s.value!.trim()} cannot be checked` };
  }
  if (charset && (s.value === null || UNSAFE_ENCODINGS.has(normEncoding(s.value)))) {
    return {
      level: 'admin',
      why: `character set ${s.value ?? '(computed)'} can hide quotes inside multi-byte characters`,
    };
  }
  return null;
}

/**
 * sql_mode values that leave statement text read as dbtape's parser reads it. Modes are allowed by
 * name, not denied: ANSI_QUOTES and NO_BACKSLASH_ESCAPES change how strings end, and so do the
 * combination modes that include them (ANSI, ORACLE, POSTGRESQL, MSSQL, DB2, MAXDB); IGNORE_SPACE
 * changes what is a function call. The modes here change only checks and results.
 */
const PLAIN_SQL_MODES = new Set([
  'allow_invalid_dates',
  'empty_string_is_null',
  'error_for_division_by_zero',
  'high_not_precedence',
  'ignore_bad_table_options',
  'no_auto_create_user',
  'no_auto_value_on_zero',
  'no_dir_in_create',
  'no_engine_substitution',
  'no_field_options',
  'no_key_options',
  'no_table_options',
  'no_unsigned_subtraction',
  'no_zero_date',
  'no_zero_in_date',
  'only_full_group_by',
  'pad_char_to_full_length',
  'pipes_as_concat',
  'real_as_float',
  'simultaneous_assignment',
  'strict_all_tables',
  'strict_trans_tables',
  'time_round_fractional',
  'time_truncate_fractional',
  'traditional',
]);

/** `@@sql_mode` at the start: the session's current modes, already allowed (mysql-classify.ts). */
const CURRENT_MODES = '@@sql_mode';

function readsLikeDefaultMode(value: string | null): boolean {
  if (value === null) return false;
  const v = value.trim().toLowerCase();
  if (v === 'default') return true;
  const added = v.startsWith(CURRENT_MODES) ? v.slice(CURRENT_MODES.length) : v;
  return added.split(',').every((m) => m.trim() === '' || PLAIN_SQL_MODES.has(m.trim()));
}

function normEncoding(v: string): string {
  return v.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Settings that change how unqualified table names resolve; guarded when a role has table rules. */
export function changesNameResolution(s: SettingChange): boolean {
  return s.name === 'search_path' || s.name === '*';
}
