/**
 * Built-in functions with effects beyond the query, and the access level each needs. A role's
 * `deny_functions` adds to this list and `allow_functions` takes entries off it (except the ones
 * that run SQL text, which would make any statement unanalysable). Names match the bare function
 * name or `schema.name`; a trailing `*` matches any suffix.
 */
import type { AccessLevel } from '../model/identity.js';
import type { Dialect } from './sql-lexer.js';

export interface FunctionRule {
  readonly pattern: string;
  readonly level: AccessLevel;
  readonly why: string;
  /** Runs SQL text given as an argument: cannot be allowed by allow_functions. */
  readonly dynamic?: boolean;
}

const SIGNALS = 'signals or reconfigures the database server';
const FILES = 'reads or writes files on the database server';
const REPLICATION = 'controls backups, WAL or replication';

const POSTGRES: readonly FunctionRule[] = [
  ...[
    'pg_terminate_backend',
    'pg_cancel_backend',
    'pg_reload_conf',
    'pg_rotate_logfile',
    'pg_promote',
    'pg_log_backend_memory_contexts',
  ].map((pattern) => ({ pattern, level: 'admin' as const, why: SIGNALS })),
  ...[
    'pg_read_file',
    'pg_read_binary_file',
    'pg_ls_*',
    'pg_stat_file',
    'pg_file_*',
    'pg_logdir_ls',
    'lo_import',
    'lo_export',
  ].map((pattern) => ({ pattern, level: 'admin' as const, why: FILES })),
  ...[
    'pg_switch_wal',
    'pg_create_restore_point',
    'pg_backup_*',
    'pg_start_backup',
    'pg_stop_backup',
    'pg_wal_replay_*',
    'pg_create_*_replication_slot',
    'pg_drop_replication_slot',
    'pg_copy_*_replication_slot',
    'pg_replication_slot_advance',
    'pg_logical_*',
    'pg_replication_origin_*',
  ].map((pattern) => ({ pattern, level: 'admin' as const, why: REPLICATION })),
  { pattern: 'pg_stat_reset*', level: 'admin', why: 'resets server statistics' },
  { pattern: 'pg_stat_statements_reset', level: 'admin', why: 'resets server statistics' },
  { pattern: 'pg_import_system_collations', level: 'admin', why: 'changes the catalog' },
  // Functions that run a query given as text, or read a table given by name: the statement's real
  // effect is not in its parse tree.
  ...[
    'dblink*',
    'query_to_xml*',
    'query_to_xmlschema',
    'table_to_xml*',
    'schema_to_xml*',
    'database_to_xml*',
    'ts_stat',
  ].map((pattern) => ({
    pattern,
    level: 'admin' as const,
    why: 'runs SQL given as text, which cannot be checked',
    dynamic: true,
  })),
  ...['nextval', 'setval'].map((pattern) => ({
    pattern,
    level: 'write' as const,
    why: 'changes a sequence',
  })),
  ...['lo_create', 'lo_creat', 'lo_unlink', 'lo_put', 'lo_from_bytea', 'lo_truncate*', 'lowrite'].map(
    (pattern) => ({
      pattern,
      level: 'write' as const,
      why: 'changes a large object',
    }),
  ),
  // Locks are intents to write and can hold other sessions up, like SELECT ... FOR UPDATE.
  ...['pg_advisory_*lock*', 'pg_try_advisory_*lock*'].map((pattern) => ({
    pattern,
    level: 'write' as const,
    why: 'takes an advisory lock',
  })),
  { pattern: 'pg_notify', level: 'write', why: 'sends a notification' },
];

const MYSQL: readonly FunctionRule[] = [
  { pattern: 'load_file', level: 'admin', why: FILES },
  ...['sys_exec', 'sys_eval', 'sys_get', 'sys_set'].map((pattern) => ({
    pattern,
    level: 'admin' as const,
    why: 'runs a command on the database server',
  })),
  { pattern: 'get_lock', level: 'write', why: 'takes a named lock' },
  ...['nextval', 'setval'].map((pattern) => ({
    pattern,
    level: 'write' as const,
    why: 'changes a sequence',
  })),
];

export function builtinFunctionRules(dialect: Dialect): readonly FunctionRule[] {
  return dialect === 'postgres' ? POSTGRES : MYSQL;
}

/** A `*` glob over lower-case names. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .toLowerCase()
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** A called function's name matches a pattern by its bare name or its qualified one. */
export function functionMatches(re: RegExp, name: string): boolean {
  if (re.test(name)) return true;
  const dot = name.lastIndexOf('.');
  return dot !== -1 && re.test(name.slice(dot + 1));
}

/**
 * PostgreSQL FunctionCall (fast-path, by OID) for the large-object functions libpq's lo_* API uses;
 * their OIDs are fixed in pg_proc.dat. Any other OID cannot be checked.
 */
export const FAST_PATH_FUNCTIONS: ReadonlyMap<number, { name: string; level: AccessLevel }> = new Map([
  [952, { name: 'lo_open', level: 'read' }],
  [953, { name: 'lo_close', level: 'read' }],
  [954, { name: 'loread', level: 'read' }],
  [956, { name: 'lo_lseek', level: 'read' }],
  [958, { name: 'lo_tell', level: 'read' }],
  [3170, { name: 'lo_lseek64', level: 'read' }],
  [3171, { name: 'lo_tell64', level: 'read' }],
  [955, { name: 'lowrite', level: 'write' }],
  [957, { name: 'lo_creat', level: 'write' }],
  [715, { name: 'lo_create', level: 'write' }],
  [964, { name: 'lo_unlink', level: 'write' }],
  [1004, { name: 'lo_truncate', level: 'write' }],
  [3172, { name: 'lo_truncate64', level: 'write' }],
]);
